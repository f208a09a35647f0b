"""Look for secrets where they must never be: logs, reports, fact caches, journals, job output.

A test runs the pipeline with sentinel secrets (unique strings no code would write by chance),
then hands the places it wrote to ``scan``. A secret counts as leaked in any of the forms a
program would write it: as is, URL-encoded, JSON-escaped, base64 on its own, and base64 of
``user:secret`` (an HTTP Basic header). Compressed files (gzip) are read through.
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
import urllib.parse
from pathlib import Path
from typing import Iterable

MAX_FILE = 512 * 1024 * 1024   # a bigger file is a disk image, not a log: skipped and reported
SKIP_SUFFIXES = (".raw", ".qcow2", ".img", ".vmdk", ".iso")


def sentinel(kind: str) -> str:
    """A fresh secret for ``kind`` that no code writes by chance (and passes common password rules)."""
    return f"Snt1-{kind}-{secrets.token_hex(8)}"


def forms(secret: str, users: Iterable[str] = ()) -> dict[str, bytes]:
    """Each way ``secret`` could be written down, by name."""
    out = {"plain": secret.encode(),
           "url-encoded": urllib.parse.quote(secret, safe="").encode(),
           "json-escaped": json.dumps(secret)[1:-1].encode(),
           "base64": base64.b64encode(secret.encode()).rstrip(b"=")}
    for user in users:
        out[f"basic-auth({user})"] = base64.b64encode(f"{user}:{secret}".encode()).rstrip(b"=")
    return {name: value for name, value in out.items() if value}


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError):
            return data
    return data


def scan(roots: Iterable[os.PathLike | str], secrets_by_name: dict[str, str],
         users: Iterable[str] = ()) -> dict:
    """Every file under ``roots`` searched for every form of every secret.

    Returns ``{"hits": [{"path", "secret", "form"}], "files": n, "bytes": n, "skipped": [paths]}``.
    A root that does not exist is an error: a scan of nothing proves nothing.
    """
    users = list(users)
    needles = {(name, form): value for name, secret in secrets_by_name.items()
               for form, value in forms(secret, users).items()}
    hits, skipped, files, total = [], [], 0, 0
    for root in map(Path, roots):
        if not root.exists():
            raise FileNotFoundError(f"secrets scan: {root} does not exist")
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        for path in paths:
            if path.suffix in SKIP_SUFFIXES or path.stat().st_size > MAX_FILE:
                skipped.append(str(path))
                continue
            try:
                data = _read(path)
            except OSError:
                skipped.append(str(path))
                continue
            files += 1
            total += len(data)
            for (name, form), value in needles.items():
                if value in data:
                    hits.append({"path": str(path), "secret": name, "form": form})
    return {"hits": hits, "files": files, "bytes": total, "skipped": skipped}
