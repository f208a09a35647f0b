"""Serve recorded mockups as a conformant service.

The DMTF and HPE mockups (mockups/) carry recording mistakes that no running service
would publish and that DMTF's redfish-service-validator rejects: missing Id / Name /
@odata.id, members that were never recorded, JSON pointers without '/', action
targets off the resource's Actions path, timestamps without offset, a few typos.
They are corrected per resource as it is loaded (the fixture files stay untouched).
"""
from __future__ import annotations

import re
from typing import Any, Callable

ROOT = "/redfish/v1"
_POINTER = re.compile(r"#(?!/)")
_NAIVE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


_DROP = object()


def _walk(value: Any, fix: Callable[[str, Any], Any]) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = fix(k, v)
            if v is not _DROP:
                out[k] = _walk(v, fix)
        return out
    if isinstance(value, list):
        return [_walk(v, fix) for v in value]
    return value


def clean(path: str, body: dict, exists: Callable[[str], bool], renames: dict[str, str]) -> dict:
    """Corrected copy of a mockup resource body served at `path`."""
    def rename(uri: str) -> str:
        for old, new in renames.items():
            if uri.lower().startswith(old.lower()):
                uri = new + uri[len(old):]
        return uri

    def fix(k: str, v: Any) -> Any:
        if k == "@odata.id" and isinstance(v, str):
            return rename(_POINTER.sub("#/", v))
        # URIs into resources that were never recorded (sensors, registry files) are left out.
        if k in ("DataSourceUri", "Uri") and isinstance(v, str) and v.startswith(ROOT) and not exists(v):
            return _DROP
        if isinstance(v, dict) and set(v) == {"@odata.id"} and k != "@odata.id":
            target = v["@odata.id"]
            if isinstance(target, str) and target.startswith(ROOT) and "#" not in target and not exists(target):
                return _DROP
        if k == "Batteries" and isinstance(v, list):      # iLO links the chassis itself as a battery
            return [b for b in v if "/Batteries/" in str(b.get("@odata.id", ""))] or _DROP
        if k == "ManagementAddressMAC" and v == "":       # LLDP neighbour without one: absent, not ""
            return _DROP
        return v

    body = _rename_key(_walk(body, fix), "MeasurmentType", "MeasurementType")  # typo in the DMTF mockup
    odata_id = body.setdefault("@odata.id", path)
    otype = body.get("@odata.type", "")
    last = odata_id.rstrip("/").rsplit("/", 1)[-1]
    is_collection = "Collection" in otype.split(".")[0]
    if otype and not is_collection and odata_id.rstrip("/") != ROOT:
        body["Id"] = last
    body.setdefault("Name", last)
    if otype.startswith("#Role.") and "RoleId" not in body:
        body["RoleId"] = body["Id"]
    if otype.startswith("#EventDestination.") and "SubscriptionType" not in body:
        body["SubscriptionType"] = "RedfishEvent"
    if otype.startswith("#ComponentIntegrity.") and "ComponentIntegrityTypeVersion" not in body:
        body["ComponentIntegrityTypeVersion"] = "1.1.0"
    entries = body.get("RegistryEntries")
    if otype.startswith("#AttributeRegistry.") and isinstance(entries, dict) and "BaseConfigs" in entries:
        # iLO lists its BIOS default sets as RegistryEntries.BaseConfigs, which the AttributeRegistry schema
        # does not define: they are served where a vendor extension belongs, Oem.Hpe.BaseConfigs.
        body.setdefault("Oem", {}).setdefault("Hpe", {})["BaseConfigs"] = entries.pop("BaseConfigs")
    if isinstance(body.get("ReleaseDate"), str) and _NAIVE_TIME.fullmatch(body["ReleaseDate"]):
        body["ReleaseDate"] += "Z"
    if isinstance(body.get("Members"), list):
        body["Members"] = [m for m in body["Members"]
                           if not isinstance(m, dict) or "#" in m.get("@odata.id", "#") or exists(m["@odata.id"])]
        body["Members@odata.count"] = len(body["Members"])
    links = body.get("Links")
    if isinstance(links, dict) and isinstance(links.get("PCIeDevice"), dict) and "@odata.id" not in links["PCIeDevice"]:
        del links["PCIeDevice"]
    for cm in body.get("CoreMetrics", []) or []:
        for res in cm.get("CStateResidency", []) or []:
            if "Residency" in res:
                res["ResidencyPercent"] = res.pop("Residency")
    base = odata_id.rstrip("/")
    for name, spec in (body.get("Actions") or {}).items():
        if name.startswith("#") and isinstance(spec, dict) and "target" in spec:
            want = f"{base}/Actions/{name[1:]}"
            if spec["target"].rstrip("/") != want:
                spec["target"] = want
    return body


def _rename_key(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {(new if k == old else k): _rename_key(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_key(v, old, new) for v in value]
    return value
