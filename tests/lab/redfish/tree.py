"""Static Redfish resource trees (read-only templates shared by every BMC).

A tree is either a mockup folder (one ``index.json`` per resource, as DMTF and
HPE publish them), a single ``resources.json`` mapping ``@odata.id`` to body,
or an ``overlay.json`` that names a base tree and adds / patches / deletes
resources. Lookups are case-insensitive and ignore a trailing slash because
iLO publishes lower-case, slash-terminated ids while clients use either form.
"""
from __future__ import annotations

import copy
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from . import hygiene

TREES_DIR = Path(__file__).resolve().parent / "trees"
ROOT = "/redfish/v1"


def norm(path: str) -> str:
    """Lookup key of a resource path: decoded, no query/fragment, no trailing slash, lower-case."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    return unquote(path).rstrip("/").lower() or "/"


# Vendor mockups kept in the repository (source and licence: mockups/README.md).
MOCKUPS_DIR = Path(__file__).resolve().parent / "mockups"
# DMTF's CSDL schema files, for the offline service validator (schema/README.md).
SCHEMA_DIR = Path(__file__).resolve().parent / "schema" / "csdl"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch (how Redfish PATCH and our overlays combine bodies)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


class Tree:
    """Read-only template resources, loaded lazily (the HPE mockup is 25 MB)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._files: dict[str, Path] = {}
        self._paths: dict[str, str] = {}
        self._error_cache: dict[str, bool] = {}
        self._bodies: dict[str, dict] = {}
        self._deleted: set[str] = set()
        self._patches: dict[str, dict] = {}
        self._cache: dict[str, dict | None] = {}
        self.base: Tree | None = None
        self.renames: dict[str, str] = {}

    # -- construction ---------------------------------------------------
    @classmethod
    def load(cls, spec: str) -> "Tree":
        """``mockup:<folder>`` (a vendor mockup under mockups/) or a folder under trees/."""
        return _load_cached(spec)

    def _index_mockup(self, folder: Path) -> None:
        for dirpath, _dirs, files in os.walk(folder):
            if "index.json" in files:
                rel = os.path.relpath(dirpath, folder)
                path = ROOT if rel == "." else f"{ROOT}/{rel}"
                self._files[norm(path)] = Path(dirpath) / "index.json"
                self._paths[norm(path)] = path

    # -- lookup ----------------------------------------------------------
    def get(self, path: str) -> dict | None:
        """Template body for ``path`` (shared; callers must copy before mutating)."""
        key = norm(path)
        if key in self._cache:
            return self._cache[key]
        body = self._resolve(key)
        self._cache[key] = body
        return body

    def _resolve(self, key: str) -> dict | None:
        if key in self._deleted or any(key.startswith(d + "/") for d in self._deleted):
            return None
        if key in self._bodies:
            body = copy.deepcopy(self._bodies[key])
        elif key in self._files:
            with open(self._files[key], encoding="utf-8") as fh:
                raw = json.load(fh)
            # a mockup may have recorded the error a resource returned: it does not exist
            body = None if set(raw) == {"error"} else hygiene.clean(self._paths[key], raw, self.has, {})
        elif self.base is not None:
            base = self.base.get(key)
            body = copy.deepcopy(base) if base is not None else None
        else:
            body = None
        if key in self._patches:
            body = merge_patch(body or {}, self._patches[key])
        if body is not None and self.renames:
            body = hygiene.clean(body.get("@odata.id", key), body, self.has, self.renames)
        return body

    def has(self, path: str) -> bool:
        """Cheap existence test used while a resource loads (must not recurse into get())."""
        key = norm(path)
        if key in self._deleted or any(key.startswith(d + "/") for d in self._deleted):
            return False
        if key in self._bodies or key in self._patches:
            return True
        if key in self._files:
            if key not in self._error_cache:
                with open(self._files[key], encoding="utf-8") as fh:
                    self._error_cache[key] = set(json.load(fh)) == {"error"}
            return not self._error_cache[key]
        return self.base.has(key) if self.base is not None else False

    def metadata(self) -> bytes | None:
        """The recorded $metadata document (CSDL XML) of the mockup this tree rests on."""
        root = self._files.get(norm(ROOT))
        if root is not None:
            xml = root.parent / "$metadata" / "index.xml"
            if xml.exists():
                return xml.read_bytes()
        return self.base.metadata() if self.base is not None else None


@lru_cache(maxsize=None)
def _load_cached(spec: str) -> Tree:
    tree = Tree(spec)
    if spec.startswith("mockup:"):
        folder = MOCKUPS_DIR / spec.split(":", 1)[1]
        if not folder.is_dir():
            raise FileNotFoundError(f"Redfish mockup {folder} missing from the repository")
        tree._index_mockup(folder)
        return tree
    folder = TREES_DIR / spec
    resources = folder / "resources.json"
    overlay = folder / "overlay.json"
    if resources.exists():
        for path, body in json.loads(resources.read_text()).items():
            tree._bodies[norm(path)] = body
    elif overlay.exists():
        data = json.loads(overlay.read_text())
        tree.base = Tree.load(data["base"])
        tree._deleted = {norm(p) for p in data.get("delete", [])}
        for path, body in data.get("resources", {}).items():
            tree._bodies[norm(path)] = body
        tree._patches = {norm(p): b for p, b in data.get("patch", {}).items()}
        tree.renames = data.get("renames", {})
    else:
        raise FileNotFoundError(f"no resources.json or overlay.json in {folder}")
    return tree
