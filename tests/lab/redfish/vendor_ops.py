"""Behaviour on top of the static trees: Settings objects, actions, firmware updates,
and the vendor specifics our modules depend on (iDRAC jobs and RAID service, iLO 5
SmartStorageConfig, iLO 6 AutoVolumeCreate, iBMC JBOD)."""
from __future__ import annotations

import copy
import email.parser
import email.policy
import ipaddress
import json
import os
import re
import ssl
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RedfishError, base_message, fail, vendor_fail
from .tree import merge_patch, norm

if TYPE_CHECKING:
    from .bmc import BMC, Response

# Properties a client may PATCH, per resource type; anything else is read-only (400).
WRITABLE = {
    "ComputerSystem": {"Boot", "AssetTag", "IndicatorLED", "LocationIndicatorActive", "HostName"},
    "SessionService": {"SessionTimeout", "ServiceEnabled"},
    "VirtualMedia": {"Image", "Inserted", "WriteProtected", "UserName", "Password", "TransferProtocolType",
                     "TransferMethod", "Oem"},
    "Manager": {"DateTime", "DateTimeLocalOffset", "Oem"},
    "Storage": {"AutoVolumeCreate"},
    "Volume": {"DisplayName", "ReadCachePolicy", "WriteCachePolicy"},
}
PERC11_MODELS = re.compile(r"H755|H355|H350|H965|H365|PERC 11|PERC 12", re.I)
IMAGE_NAME = re.compile(r"^(?P<component>[A-Za-z][A-Za-z0-9_.]*?)[-_](?P<version>\d[\w.\-]*?)"
                        r"\.(?:bin|exe|fwpkg|hpb|img|zip|pldm|d9)$", re.I)


def _type(body: dict) -> str:
    return body.get("@odata.type", "#.").lstrip("#").split(".")[0]


def _strip_annotations(body: dict) -> dict:
    return {k: v for k, v in body.items() if not k.startswith("@")}


# --------------------------------------------------------------------- setup
def prepare(bmc: "BMC") -> None:
    """Dynamic collections the templates may lack, and per-vendor additions."""
    p = bmc.profile
    for coll, otype, name in [
        (bmc.sessions_collection(), "#SessionCollection.SessionCollection", "Session Collection"),
        ("/redfish/v1/TaskService/Tasks", "#TaskCollection.TaskCollection", "Task Collection"),
    ]:
        body = bmc.get(coll)
        if body is None:
            body = bmc.put(coll, {"@odata.id": coll, "@odata.type": otype, "Name": name, "Members": []})
        body["Members"] = []  # recorded sessions/tasks of the mockup are not ours
        body["Members@odata.count"] = 0
    if p.dell_jobs:
        jobs = bmc.get(f"{p.manager}/Jobs")
        if jobs is not None:
            jobs["Members"], jobs["Members@odata.count"] = [], 0
    bios_link = (bmc.system() or {}).get("Bios", {}).get("@odata.id")
    bios = bmc.get(bios_link) if bios_link else None
    settings_link = (bios or {}).get("@Redfish.Settings", {}).get("SettingsObject", {}).get("@odata.id")
    settings = bmc.get(settings_link) if settings_link else None
    if settings is not None and p.settings_style == "mirror":
        # Start with nothing pending: a mockup may have recorded a half-applied change.
        settings["Attributes"] = copy.deepcopy(bios.get("Attributes", {}))
    upd = bmc.get("/redfish/v1/UpdateService")
    if upd is not None and p.multipart_uri and "MultipartHttpPushUri" not in upd:
        upd["MultipartHttpPushUri"] = p.multipart_uri
        # the property exists since UpdateService v1_6_0; an older recorded type would not allow it
        m = re.match(r"#UpdateService\.v1_(\d+)_\d+\.", upd.get("@odata.type", ""))
        if m and int(m.group(1)) < 6:
            upd["@odata.type"] = "#UpdateService.v1_6_0.UpdateService"


def state_error(bmc: "BMC", reset_type: str) -> RedfishError:
    if bmc.profile.vendor == "hpe":
        return vendor_fail(400, "iLO.2.15.InvalidOperationForSystemState",
                           "The operation was not successful due to the current power state "
                           "(for example, attempting to turn the power off when it is already off).")
    return fail(409, "ResourceInUse")


# ------------------------------------------------------------------ settings
def settings_owner(bmc: "BMC", key: str) -> str | None:
    if not key.endswith("/settings"):
        return None
    owner = key[: -len("/settings")]
    body = bmc.get(owner)
    if body and norm(body.get("@Redfish.Settings", {}).get("SettingsObject", {}).get("@odata.id", "")) == key:
        return owner
    return None


def patch_settings(bmc: "BMC", key: str, owner: str, patch: dict, replace: bool = False) -> "Response":
    from .bmc import Response
    apply = patch.pop("@Redfish.SettingsApplyTime", {}).get("ApplyTime")
    owner_body = bmc.get(owner) or {}
    if bmc.profile.dell_jobs and bmc.busy_job(key):
        raise vendor_fail(400, "IDRAC.2.8.SYS011",
                          "Pending configuration values are already committed, unable to perform another set operation.",
                          "Wait for the scheduled job to complete or delete the configuration job before attempting "
                          "more configuration operations.")
    attrs = patch.get("Attributes")
    if isinstance(attrs, dict):
        known = owner_body.get("Attributes", {})
        for name, value in attrs.items():
            if name not in known:
                raise fail(400, "PropertyUnknown", f"Attributes/{name}")
        refused = registry_refusals(bmc, owner_body, attrs)
        if refused:
            raise RedfishError(400, refused)
    _validate_dell_controller(bmc, owner_body, patch)
    settings = bmc.get(key)
    if settings is None:
        settings = bmc.put(key, {"@odata.id": key, "@odata.type": owner_body.get("@odata.type")})
    if replace:
        bmc.pending[key] = copy.deepcopy(patch)
        bmc.pending_replace.add(key)
        for k in [k for k in settings if not k.startswith("@")]:
            del settings[k]
        settings.update(copy.deepcopy(patch))
    else:
        bmc.pending[key] = merge_patch(bmc.pending.get(key, {}), copy.deepcopy(patch))
        merge_patch(settings, copy.deepcopy(patch))
    if bmc.profile.dell_jobs and apply:
        task = _dell_config_job(bmc, key, scheduled=True)
        if apply == "Immediate":
            bmc.reset("ForceRestart" if bmc.system().get("PowerState") == "On" else "On")
        resp = bmc.task_response(task)
        return Response(202, None, resp.headers)
    if bmc.profile.vendor == "hpe":
        # iLO answers a staged change with a success wrapped in an error envelope.
        return Response(200, {"error": {"code": "iLO.0.10.ExtendedInfo", "message": "See @Message.ExtendedInfo",
                                        "@Message.ExtendedInfo": [{"MessageId": "iLO.2.15.SystemResetRequired"}]}})
    return Response(204)


# ------------------------------------------------------- attribute registry
_VERSION = re.compile(r"\.v?\d+[._]\d+[._]\d+$")
_REGISTRIES: dict[tuple[str, str], dict | None] = {}


def attribute_registry(bmc: "BMC", name: str) -> dict | None:
    """AttributeName -> entry of the registry `name` as the tree serves it: the Registries collection's
    file whose Registry/Id is `name` (or the same registry in another version, as iDRAC lists it), then
    its Location. Templates do not change: read once per tree."""
    key = (bmc.tree.name, name)
    if key not in _REGISTRIES:
        _REGISTRIES[key] = None
        root = bmc.tree.get("/redfish/v1") or {}
        coll = bmc.tree.get(root.get("Registries", {}).get("@odata.id", "/redfish/v1/Registries")) or {}
        files = [bmc.tree.get(m.get("@odata.id", "")) or {} for m in coll.get("Members", [])]
        base = _VERSION.sub("", name).lower()
        found = next((f for f in files if name in (f.get("Registry"), f.get("Id"))), None) or next(
            (f for f in files if _VERSION.sub("", f.get("Registry") or f.get("Id") or "").lower() == base), None)
        for loc in (found or {}).get("Location", []):
            body = bmc.tree.get(loc.get("Uri", "")) if loc.get("Uri") else None
            attrs = ((body or {}).get("RegistryEntries") or {}).get("Attributes")
            if attrs:
                _REGISTRIES[key] = {a["AttributeName"]: a for a in attrs if "AttributeName" in a}
                break
    return _REGISTRIES[key]


def registry_refusals(bmc: "BMC", owner_body: dict, attrs: dict) -> list[dict]:
    """What a BMC answers for attribute values its registry does not allow: one Base message each
    (PropertyNotWritable, PropertyValueTypeError, PropertyValueNotInList, PropertyValueOutOfRange,
    PropertyValueFormatError). Nothing of the PATCH is applied when one is refused."""
    registry = attribute_registry(bmc, owner_body.get("AttributeRegistry") or "")
    if not registry:
        return []
    messages = []
    for name, value in attrs.items():
        entry = registry.get(name)
        if entry is None:
            continue
        prop, kind = f"Attributes/{name}", entry.get("Type")
        number = isinstance(value, int) and not isinstance(value, bool)
        if entry.get("ReadOnly") or entry.get("Immutable") or entry.get("GrayOut"):
            if value != owner_body.get("Attributes", {}).get(name):     # an unchanged echo is let through
                messages.append(base_message("PropertyNotWritable", prop))
        elif (kind == "Integer" and not number) or (kind == "Boolean" and not isinstance(value, bool)) or (
                kind in ("Enumeration", "String", "Password") and not isinstance(value, str)):
            messages.append(base_message("PropertyValueTypeError", value, prop))
        elif kind == "Enumeration" and value not in [v.get("ValueName") for v in entry.get("Value", [])]:
            messages.append(base_message("PropertyValueNotInList", value, prop))
        elif kind == "Integer" and not (entry.get("LowerBound", value) <= value <= entry.get("UpperBound", value)
                                        and (value - entry.get("LowerBound", 0)) % (entry.get("ScalarIncrement") or 1) == 0):
            messages.append(base_message("PropertyValueOutOfRange", value, prop))
        elif kind in ("String", "Password") and not (entry.get("MinLength", 0) <= len(value)
                                                     <= entry.get("MaxLength", len(value))):
            messages.append(base_message("PropertyValueOutOfRange", value, prop))
        elif kind == "String" and entry.get("ValueExpression") and value != entry.get("DefaultValue") \
                and not re.search(entry["ValueExpression"], value):
            messages.append(base_message("PropertyValueFormatError", value, prop))
    return messages


def _validate_dell_controller(bmc: "BMC", owner_body: dict, patch: dict) -> None:
    mode = patch.get("Oem", {}).get("Dell", {}).get("DellStorageController", {}).get("ControllerMode")
    if mode is None:
        return
    if set(patch) - {"Oem"} or set(patch["Oem"]["Dell"]["DellStorageController"]) != {"ControllerMode"}:
        raise fail(400, "PropertyNotWritable", "ControllerMode must be the only property in the request")
    allowed = ["RAID"] if PERC11_MODELS.search(owner_body.get("Model", "")) else ["RAID", "HBA", "EnhancedHBA"]
    if mode not in allowed:
        raise fail(400, "PropertyValueNotInList", mode, "ControllerMode")


def _dell_config_job(bmc: "BMC", key: str, scheduled: bool) -> Any:
    bmc.refuse_if_busy(key)
    name = "Configure: BIOS.Setup.1-1" if "/bios/" in key + "/" else f"Configure: {key.split('/')[-2]}"
    job_type = "BIOSConfiguration" if "/bios" in key else "RAIDConfiguration"
    return bmc.start_task(name, lambda: apply_settings(bmc, key), scheduled=scheduled,
                          job_type=job_type, target=key)


def apply_settings(bmc: "BMC", key: str) -> list[dict]:
    owner = key[: -len("/settings")]
    patch = bmc.pending.pop(key, None)
    replaced = key in bmc.pending_replace
    bmc.pending_replace.discard(key)
    if patch is None:
        return []
    owner_body = bmc.get(owner)
    if owner_body is None:
        return []
    if replaced and _type(owner_body) == "SmartStorageConfig":
        _apply_smartstorage(bmc, owner, owner_body, patch)
    else:
        mode = patch.get("Oem", {}).get("Dell", {}).get("DellStorageController", {}).get("ControllerMode")
        if mode:
            _apply_dell_controller_mode(bmc, owner, mode)
        merge_patch(owner_body, _strip_annotations(patch))
    if bmc.profile.settings_style == "pending_only":
        bmc.res.pop(key, None)          # back to the template's empty Settings body
    return []


def _apply_dell_controller_mode(bmc: "BMC", controller: str, mode: str) -> None:
    storage = controller.rsplit("/controllers/", 1)[0]
    if mode != "RAID" and bmc.members(f"{storage}/Volumes"):
        bmc.res.pop(controller + "/settings", None)
        # No public message id for this refusal: Base.ResourceInUse with the reason.
        err = fail(400, "ResourceInUse")
        err.messages[0]["Message"] += " Virtual disks are present on the controller; delete them first."
        raise err
    for drive in (bmc.get(storage) or {}).get("Drives", []):
        body = bmc.get(drive["@odata.id"])
        if body:
            dell = body.setdefault("Oem", {}).setdefault("Dell", {}).setdefault("DellPhysicalDisk", {})
            dell["RaidStatus"] = "Ready" if mode == "RAID" else "NonRAID"


def _apply_smartstorage(bmc: "BMC", owner: str, body: dict, pending: dict) -> None:
    """iLO 5 applies a SmartStorageConfig PUT at the next POST: clear, then build the listed drives."""
    actions = [a.get("Action") for a in pending.get("Actions", []) if isinstance(a, dict)]
    wanted = pending.get("LogicalDrives", body.get("LogicalDrives", []))
    if "ClearConfigurationMetadata" in actions or "LogicalDrives" in pending:
        body["LogicalDrives"] = copy.deepcopy(wanted)
    if "DataGuard" in pending:
        body["DataGuard"] = pending["DataGuard"]
    base = f"{bmc.profile.system}/SmartStorage/ArrayControllers"
    # The port mode staged for this POST is the controller's mode from now on (HBA, RAID or Mixed):
    # the array controller reports it as CurrentOperatingMode, as a real iLO 5 does after the reboot.
    ports = [p for p in pending.get("Ports") or [] if isinstance(p, dict)]
    modes = {p.get("OperatingModeAfterReboot") for p in ports}
    if ports and len(modes) == 1 and None not in modes:
        body["Ports"] = copy.deepcopy(ports)
        for ctrl in bmc.members(base):
            array = bmc.get(ctrl)
            if array is not None:
                array["CurrentOperatingMode"] = next(iter(modes))
    # The SmartStorage view follows: logical drives gone means their disks are unconfigured.
    for ctrl in bmc.members(base):
        ld_coll = f"{ctrl.rstrip('/')}/LogicalDrives"
        if not wanted:
            for ld in bmc.members(ld_coll):
                bmc.remove_member(ld_coll, ld)
                bmc.delete(ld)
    for vol in bmc.members(f"{bmc.profile.system}/Storage/DE00A000/Volumes"):
        if not wanted:
            bmc.remove_member(f"{bmc.profile.system}/Storage/DE00A000/Volumes", vol)
            bmc.delete(vol)
    settings = bmc.get(owner + "/settings")
    if settings is not None:
        settings.pop("Actions", None)
        settings["LogicalDrives"] = copy.deepcopy(body["LogicalDrives"])


# ---------------------------------------------------------------------- boot
def apply_on_boot(bmc: "BMC") -> None:
    for task in list(bmc.tasks.values()):
        if task.state == "Scheduled":
            task.state = "Running"
            bmc.finish_task(task)
    if not bmc.profile.dell_jobs:  # iDRAC applies pending values only through a job
        for key in list(bmc.pending):
            try:
                apply_settings(bmc, key)
            except RedfishError:
                pass
    for inv, version in bmc.staged_firmware:
        body = bmc.get(inv)
        if body is not None:
            body["Version"] = version
    bmc.staged_firmware = []


# ------------------------------------------------------------------ dispatch
def patch(bmc: "BMC", key: str, body: dict, patch_body: dict) -> "Response | None":
    """Vendor PATCH handling; None means 'merge generically'."""
    from .bmc import Response
    owner = settings_owner(bmc, key)
    if owner is not None:
        return patch_settings(bmc, key, owner, patch_body)
    if "@Redfish.Settings" in body:
        raise fail(405, "OperationNotAllowed", headers={"Allow": "GET"})
    rtype = _type(body)
    if bmc.profile.vendor == "xfusion" and rtype == "Storage" and "StorageControllers" in patch_body:
        _patch_xfusion_storage(bmc, key, body, patch_body)
        return Response(200, None)
    writable = WRITABLE.get(rtype)
    if writable is not None:
        for prop in patch_body:
            if prop.startswith("@"):
                continue
            if prop not in writable or (prop == "AutoVolumeCreate" and "AutoVolumeCreate@Redfish.AllowableValues" not in body):
                raise fail(400, "PropertyNotWritable", prop)
    _check_allowable(body, patch_body, "")
    if rtype == "SessionService" and "SessionTimeout" in patch_body:
        value = patch_body["SessionTimeout"]
        # SessionService schema: minimum 30, maximum 86400 seconds
        if not isinstance(value, int) or isinstance(value, bool) or not 30 <= value <= 86400:
            raise fail(400, "PropertyValueOutOfRange", value, "SessionTimeout")
    merge_patch(body, patch_body)
    if rtype == "SessionService" and "SessionTimeout" in patch_body:
        bmc.config.session_timeout = int(patch_body["SessionTimeout"])
    if rtype == "Storage" and "AutoVolumeCreate" in patch_body:
        _auto_volumes(bmc, key)
    return None


def _check_allowable(current: dict, patch_body: dict, where: str) -> None:
    for prop, value in patch_body.items():
        if prop.startswith("@"):
            continue
        allowed = current.get(f"{prop}@Redfish.AllowableValues")
        if allowed is not None and value not in allowed:
            raise fail(400, "PropertyValueNotInList", value, f"{where}{prop}")
        if isinstance(value, dict) and isinstance(current.get(prop), dict):
            _check_allowable(current[prop], value, f"{where}{prop}/")


def _patch_xfusion_storage(bmc: "BMC", key: str, body: dict, patch_body: dict) -> None:
    """iBMC: StorageControllers[i].Oem.xFusion.{Mode,JBODState}; arrays merge by index as iBMC does."""
    ctrls = body.get("StorageControllers", [])
    for i, change in enumerate(patch_body["StorageControllers"]):
        if i >= len(ctrls) or not isinstance(change, dict):
            raise fail(400, "PropertyValueNotInList", i, "StorageControllers")
        oem = change.get("Oem", {}).get("xFusion", {})
        if set(change) - {"Oem"} or not oem:
            raise fail(400, "PropertyNotWritable", "StorageControllers")
        cur = ctrls[i].setdefault("Oem", {}).setdefault("xFusion", {})
        if "Mode" in oem:
            if oem["Mode"] not in cur.get("SupportedModes", []):
                raise fail(400, "PropertyValueNotInList", oem["Mode"], "Mode")
            if oem["Mode"] == "JBOD" and bmc.members(f"{key}/Volumes"):
                err = fail(400, "ResourceInUse")
                err.messages[0]["Message"] += " Logical drives exist on the controller; delete them first."
                raise err
            cur["Mode"] = oem["Mode"]
            cur["JBODState"] = oem["Mode"] == "JBOD"
        if "JBODState" in oem:
            if not isinstance(oem["JBODState"], bool):
                raise fail(400, "PropertyValueNotInList", oem["JBODState"], "JBODState")
            cur["JBODState"] = oem["JBODState"]
        jbod = cur.get("JBODState", False)
        for drive in body.get("Drives", []):
            dbody = bmc.get(drive["@odata.id"])
            if dbody is None:
                continue
            dx = dbody.setdefault("Oem", {}).setdefault("xFusion", {})
            if dx.get("FirmwareStatus") in ("UnconfiguredGood", "JBOD"):
                dx["FirmwareStatus"] = "JBOD" if jbod else "UnconfiguredGood"


def _volume_drives(bmc: "BMC", storage: str) -> set[str]:
    used = set()
    for vol in bmc.members(f"{storage}/Volumes"):
        for d in (bmc.get(vol) or {}).get("Links", {}).get("Drives", []):
            used.add(norm(d["@odata.id"]))
    return used


def _auto_volumes(bmc: "BMC", storage: str) -> None:
    """MR controllers with AutoVolumeCreate=NonRAID expose every free drive as a RAIDType None volume."""
    body = bmc.get(storage) or {}
    if body.get("AutoVolumeCreate") != "NonRAID":
        return
    used = _volume_drives(bmc, storage)
    coll = f"{body['@odata.id'].rstrip('/')}/Volumes"
    for drive in body.get("Drives", []):
        if norm(drive["@odata.id"]) in used:
            continue
        did = drive["@odata.id"].rstrip("/").rsplit("/", 1)[-1]
        path = f"{coll}/JBOD{did}"
        dbody = bmc.get(drive["@odata.id"]) or {}
        bmc.put(path, {"@odata.id": path, "@odata.type": "#Volume.v1_9_0.Volume", "Id": f"JBOD{did}",
                       "Name": f"JBOD {did}", "RAIDType": "None", "CapacityBytes": dbody.get("CapacityBytes", 0),
                       "Status": {"State": "Enabled", "Health": "OK"},
                       "Links": {"Drives": [{"@odata.id": drive["@odata.id"]}]}})
        bmc.add_member(coll, path)


def delete(bmc: "BMC", key: str, body: dict) -> "Response":
    from .bmc import Response
    rtype = _type(body)
    if rtype == "Session":
        bmc._drop_session(body.get("Id", key.rsplit("/", 1)[-1]))
        return Response(204)
    if rtype == "Volume":
        storage = key.rsplit("/volumes/", 1)[0]
        # iLO 5 manages logical drives through SmartStorageConfig; its DMTF view is read-only.
        if bmc.get(f"{bmc.profile.system}/smartstorageconfig") is not None:
            raise fail(405, "OperationNotAllowed", headers={"Allow": "GET"})

        def remove() -> list[dict]:
            coll = f"{(bmc.get(storage) or {}).get('@odata.id', storage).rstrip('/')}/Volumes"
            bmc.remove_member(coll, body["@odata.id"])
            bmc.delete(key)
            _auto_volumes(bmc, storage)
            return []
        if bmc.profile.dell_jobs:
            bmc.refuse_if_busy(storage)
            return bmc.task_response(bmc.start_task("Delete Virtual Disk", remove, job_type="RealTimeNoRebootConfiguration",
                                                    target=storage))
        remove()
        return Response(204)
    raise fail(405, "OperationNotAllowed", headers={"Allow": "GET"})


def delete_task(bmc: "BMC", key: str, found: tuple[str, Any]) -> "Response":
    """DELETE of a task or job. iDRAC deletes a job from its queue (Jobs/JID_...; a running one is
    refused) and the staged values of a configuration job go with it; its TaskService entries are
    read-only views of the jobs. Elsewhere a DMTF task can be deleted once it has ended."""
    from .bmc import Response
    prefix, task = found
    jobs = norm(bmc.profile.manager) + "/jobs/"
    if bmc.profile.dell_jobs and prefix != jobs:
        raise fail(405, "OperationNotAllowed", headers={"Allow": "GET"})
    if task.state == "Running":
        # (the iDRAC's own message id for this refusal is not public: Base.ResourceInUse with the reason)
        err = fail(400 if bmc.profile.dell_jobs else 409, "ResourceInUse")
        err.messages[0]["Message"] += f" Job {task.id} is running and cannot be deleted until it ends."
        raise err
    if task.state == "Scheduled" and task.target:
        bmc.pending.pop(task.target, None)
        bmc.res.pop(task.target, None)
    del bmc.tasks[task.id]
    if bmc.profile.dell_jobs:
        bmc.remove_member(f"{bmc.profile.manager}/Jobs", bmc.job_path(task))
    bmc.remove_member("/redfish/v1/TaskService/Tasks", bmc.task_path(task))
    if bmc.profile.dell_jobs:
        return Response(200, {"@Message.ExtendedInfo": [base_message("Success", severity="OK")]})
    return Response(204)


def put(bmc: "BMC", key: str, body: dict, new: dict) -> "Response":
    owner = settings_owner(bmc, key)
    if owner is not None and bmc.profile.vendor == "hpe":
        return patch_settings(bmc, key, owner, new, replace=True)
    raise fail(405, "OperationNotAllowed", headers={"Allow": "GET, PATCH"})


# ------------------------------------------------------------------- actions
def _declared_action(body: dict, key: str) -> tuple[str, dict] | None:
    """The action whose declared target is `key` (targets need not end in the action name)."""
    actions = dict(body.get("Actions", {}))
    actions.update(actions.pop("Oem", {}) or {})
    for name, spec in actions.items():
        if isinstance(spec, dict) and norm(spec.get("target", "")) == key:
            return name.lstrip("#"), spec
    return None


def action(bmc: "BMC", owner: str, key: str, params: dict) -> "Response":
    from .bmc import Response
    body = bmc.get(owner)
    found = _declared_action(body, key) if body is not None else None
    if found is None:
        raise fail(404 if body is None else 400, "ActionNotSupported", key.rsplit("/", 1)[-1])
    name, declared = found
    for param, value in params.items():
        allowed = declared.get(f"{param}@Redfish.AllowableValues")
        if allowed is not None and value not in allowed:
            raise fail(400, "ActionParameterValueNotInList", value, param, name)
    short = name.split(".")[-1]
    if short == "Reset" and _type(body) == "ComputerSystem":
        if "ResetType" not in params:
            raise fail(400, "ActionParameterMissing", name, "ResetType")
        bmc.reset(params["ResetType"])
        return Response(204)
    if short == "Reset" and _type(body) == "Manager":
        bmc.go_down(bmc.bmc_reset_seconds())   # the BMC reboots: gone for a while, sessions lost
        return Response(204)
    if short == "InsertMedia":
        return _insert_media(bmc, body, params)
    if short == "EjectMedia":
        bmc.media_ejected(body)
        body.update({"Inserted": False, "Image": None, "ImageName": None, "ConnectedVia": "NotConnected"})
        return Response(204)
    if short == "SimpleUpdate":
        return simple_update(bmc, params)
    if short in ("ConvertToNonRAID", "ConvertToRAID"):
        return _dell_convert(bmc, short, params)
    raise fail(400, "ActionNotSupported", name)


def _insert_media(bmc: "BMC", body: dict, params: dict) -> "Response":
    from .bmc import Response
    image = params.get("Image")
    if not image:
        raise fail(400, "ActionParameterMissing", "VirtualMedia.InsertMedia", "Image")
    if body.get("Inserted"):
        raise fail(409, "ResourceInUse")
    scheme = urllib.parse.urlparse(image).scheme.lower()
    if scheme not in ("http", "https", "nfs", "cifs", "smb"):
        raise fail(400, "ActionParameterValueNotInList", image, "Image", "VirtualMedia.InsertMedia")
    bmc.media_inserted(body, image)     # a BMC bound to a machine fetches the image and connects it (may refuse)
    body.update({"Image": image, "ImageName": image.rstrip("/").rsplit("/", 1)[-1], "Inserted": True,
                 "WriteProtected": params.get("WriteProtected", True), "ConnectedVia": "URI"})
    return Response(204)


def _dell_convert(bmc: "BMC", action_name: str, params: dict) -> "Response":
    disks = params.get("PDArray")
    if not isinstance(disks, list) or not disks:
        raise fail(400, "ActionParameterMissing", f"DellRaidService.{action_name}", "PDArray")
    paths = []
    for fqdd in disks:
        ctrl = str(fqdd).rsplit(":", 1)[-1]
        storage = f"{bmc.profile.system}/Storage/{ctrl}"
        path = f"{storage}/Drives/{fqdd}"
        if bmc.get(path) is None:
            raise fail(400, "ActionParameterValueNotInList", fqdd, "PDArray", f"DellRaidService.{action_name}")
        if norm(path) in _volume_drives(bmc, storage):
            raise fail(400, "ResourceInUse")
        paths.append((storage, path))
    storage = paths[0][0]
    bmc.refuse_if_busy(norm(storage))
    status = "NonRAID" if action_name == "ConvertToNonRAID" else "Ready"

    def convert() -> list[dict]:
        for _storage, path in paths:
            dell = bmc.get(path).setdefault("Oem", {}).setdefault("Dell", {}).setdefault("DellPhysicalDisk", {})
            dell["RaidStatus"] = status
        return []
    realtime = params.get("@Redfish.OperationApplyTime") == "Immediate"
    task = bmc.start_task(f"{action_name}: {', '.join(map(str, disks))}", convert, scheduled=not realtime,
                          job_type="RealTimeNoRebootConfiguration" if realtime else "RAIDConfiguration",
                          target=norm(storage))
    return bmc.task_response(task)


# ------------------------------------------------------------------ firmware
def firmware_versions(bmc: "BMC") -> dict[str, str]:
    out = {}
    for member in bmc.members("/redfish/v1/UpdateService/FirmwareInventory"):
        body = bmc.get(member) or {}
        out[member] = body.get("Version", "")
    return out


def _lab_ca() -> str | None:
    lab = Path(os.environ.get("REFORGE_LAB_DIR", Path(__file__).resolve().parents[3] / ".lab"))
    ca = lab / "pki" / "ca.pem"
    return str(ca) if ca.exists() else None


def fetch_image(uri: str) -> tuple[str, bytes]:
    """The lab never downloads from outside: loopback http(s) or a local file only."""
    parsed = urllib.parse.urlparse(uri)
    name = urllib.parse.unquote(parsed.path.rstrip("/").rsplit("/", 1)[-1])
    if parsed.scheme == "file" or (not parsed.scheme and uri.startswith("/")):
        return name, Path(urllib.parse.unquote(parsed.path)).read_bytes()
    if parsed.scheme not in ("http", "https"):
        raise OSError(f"transfer protocol {parsed.scheme or '?'} not supported by the lab")
    host = parsed.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise OSError(f"{host} is outside the lab (only loopback image servers are reachable)")
    ctx = ssl.create_default_context(cafile=_lab_ca()) if parsed.scheme == "https" else None
    # An opener with the lab CA, as urlopen(context=ctx) would build (loopback only, checked above).
    handlers = [urllib.request.HTTPSHandler(context=ctx)] if ctx else []
    with urllib.request.build_opener(*handlers).open(uri, timeout=10) as resp:
        return name, resp.read(16 * 1024 * 1024)


def parse_image(name: str, data: bytes) -> tuple[str, str]:
    """Image format of the lab: JSON {"Component","Version"} or a file named <component>-<version>.bin."""
    if data[:1] == b"{":
        try:
            meta = json.loads(data.decode())
            return str(meta["Component"]), str(meta["Version"])
        except (ValueError, KeyError, UnicodeDecodeError):
            pass
    m = IMAGE_NAME.match(name)
    if not m:
        raise ValueError(f"cannot tell component and version from image '{name}'")
    return m.group("component"), m.group("version")


def _update_message(name: str, *args: str) -> dict:
    texts = {"AwaitingActivation": "Awaiting for an action to proceed with activating image '%1' on '%2'.",
             "UpdateSuccessful": "Device '%1' successfully updated with image '%2'.",
             "TransferFailed": "Transfer of image '%1' to '%2' failed.",
             "VerificationFailed": "Verification of image '%1' at '%2' failed.",
             "NoTargetsDetermined": "No target device will be updated with image '%1'."}
    text = texts[name]
    for i, a in enumerate(args, 1):
        text = text.replace(f"%{i}", a)
    return {"MessageId": f"Update.1.0.{name}", "Message": text, "MessageArgs": list(args),
            "Severity": "OK" if name in ("AwaitingActivation", "UpdateSuccessful") else "Critical"}


def _resolve_component(bmc: "BMC", component: str, targets: list[str]) -> str | None:
    inventory = bmc.members("/redfish/v1/UpdateService/FirmwareInventory")
    for target in targets:
        if any(norm(t) == norm(target) for t in inventory):
            return target
    if targets:
        return None
    alias = bmc.profile.firmware.get(component.lower())
    if alias:
        return alias
    token = re.sub(r"[^a-z0-9]", "", component.lower())
    for member in inventory:
        body = bmc.get(member) or {}
        names = [re.sub(r"[^a-z0-9]", "", str(body.get(k, "")).lower()) for k in ("Id", "Name")]
        if token and any(token == n or (len(token) > 2 and token in n) for n in names):
            return member
    return None


def start_update(bmc: "BMC", name: str, data: bytes | None, targets: list[str], apply_time: str | None,
                 transfer_error: str | None = None, payload: dict | None = None,
                 fetch_uri: str | None = None) -> "Response":
    """Accept an update at once; the image is checked (and, for a SimpleUpdate, fetched in the
    background) and flashed over the profile's update time, the target reading Updating meanwhile."""
    from .bmc import Response
    hidden = not bmc.config.update_tasks and not bmc.profile.dell_jobs
    task = bmc.start_task(f"Firmware Update: {name}", None, job_type="FirmwareUpdate", duration=bmc.update_seconds(),
                          fetching=True, payload=payload, hidden=hidden)
    if fetch_uri is not None and not fetch_uri.startswith(("http://", "https://")):
        # file:// (the lab's stand-in for a share the BMC mounts) is read at once
        try:
            name, data = fetch_image(fetch_uri)
        except OSError as exc:
            transfer_error = str(exc)
        fetch_uri = None
    if fetch_uri is None:
        _resolve_update(bmc, task, name, data, targets, apply_time, transfer_error)
    else:
        def fetch() -> None:
            # A BMC downloads while it goes on answering: no lock is held for the transfer.
            try:
                fetched, image, error = *fetch_image(fetch_uri), None
            except OSError as exc:
                fetched, image, error = name, None, str(exc)
            with bmc.lock:
                if bmc.tasks.get(task.id) is task:
                    _resolve_update(bmc, task, fetched, image, targets, apply_time, error)
        threading.Thread(target=fetch, daemon=True).start()
    if hidden:   # iLO 5 before 2.30: "200 OK" and nothing to follow but Oem.Hpe.State
        return Response(200, {"error": {"code": "iLO.0.10.ExtendedInfo", "message": "See @Message.ExtendedInfo",
                                        "@Message.ExtendedInfo": [base_message("Success", severity="OK")]}})
    return bmc.task_response(task)


def _resolve_update(bmc: "BMC", task: Any, name: str, data: bytes | None, targets: list[str],
                    apply_time: str | None, transfer_error: str | None) -> None:
    try:
        if transfer_error:
            raise OSError(transfer_error)
        component, version = parse_image(name, data or b"")
        inv = _resolve_component(bmc, component, targets)
        problem = None if inv else _update_message("NoTargetsDetermined", name)
    except OSError as exc:
        inv, version, problem = None, "", _update_message("TransferFailed", name, bmc.name)
        problem["Message"] += f" ({exc})"
    except ValueError:
        inv, version, problem = None, "", _update_message("VerificationFailed", name, bmc.name)
    p = bmc.profile
    needs_reset = inv is not None and (apply_time == "OnReset" or norm(inv) not in {norm(i) for i in p.firmware_immediate})
    target = bmc.get(inv) if inv else None
    if target is not None and not (p.dell_jobs and needs_reset):
        target.setdefault("Status", {})["State"] = "Updating"

    def complete() -> list[dict]:
        if target is not None:
            target.setdefault("Status", {})["State"] = "Enabled"
        if problem:
            raise RedfishError(400, [problem])
        if needs_reset and not p.dell_jobs:
            bmc.staged_firmware.append((inv, version))
            return [_update_message("AwaitingActivation", name, inv),
                    base_message("ResetRequired", f"{p.system}/Actions/ComputerSystem.Reset", "ForceRestart", severity="OK")]
        target["Version"] = version
        if p.bmc_firmware and norm(inv) == norm(p.bmc_firmware):
            # the BMC restarts into the new firmware: gone for a while, every session dies
            bmc.go_down(bmc.bmc_reset_seconds(), since=bmc.finishing_at)
        return [_update_message("UpdateSuccessful", inv, name)]
    task.on_complete = complete
    task.fetching = False
    if p.dell_jobs and needs_reset and not problem:
        # iDRAC: the package downloads (the job's timed part), then the job waits Scheduled for a reboot
        if task.duration:
            task.after = "Scheduled"
        else:
            task.state = "Scheduled"
    elif not task.duration and task.polls_total <= 0:
        bmc.finish_task(task)


def update_service_state(bmc: "BMC") -> None:
    """iLO's progress of the last update in UpdateService.Oem.Hpe (State, FlashProgressPercent, Result):
    the only progress iLO gives (its task monitor carries no percentage, iLO 5 < 2.30 has no task)."""
    if bmc.profile.vendor != "hpe":
        return
    body = bmc.get("/redfish/v1/UpdateService")
    updates = [t for t in bmc.tasks.values() if t.job_type == "FirmwareUpdate"]
    hpe = body.setdefault("Oem", {}).setdefault("Hpe", {})
    if not updates:
        hpe.update({"State": "Idle", "FlashProgressPercent": 0})
        return
    last = updates[-1]
    if last.state == "Running":
        state = "Verifying" if last.fetching or last.percent < 20 else "Writing"
        hpe.update({"State": state, "FlashProgressPercent": last.percent})
    elif last.state == "Exception":
        failure = next((m for m in reversed(last.messages) if m.get("Severity") == "Critical"), {})
        hpe.update({"State": "Error", "FlashProgressPercent": last.percent,
                    "Result": {"MessageId": failure.get("MessageId", "iLO.2.15.UpdateFailed"),
                               "MessageArgs": failure.get("MessageArgs") or [failure.get("Message", "")]}})
    else:
        hpe.update({"State": "Complete", "FlashProgressPercent": 100,
                    "Result": {"MessageId": "iLO.2.15.Success", "MessageArgs": []}})


def simple_update(bmc: "BMC", params: dict) -> "Response":
    uri = params.get("ImageURI")
    if not uri:
        raise fail(400, "ActionParameterMissing", "UpdateService.SimpleUpdate", "ImageURI")
    proto = params.get("TransferProtocol")
    if proto and "://" not in uri:
        uri = f"{proto.lower()}://{uri}"
    payload = {"HttpOperation": "POST", "TargetUri": "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
               "JsonBody": json.dumps(params), "HttpHeaders": []}
    name = urllib.parse.unquote(urllib.parse.urlparse(uri).path.rstrip("/").rsplit("/", 1)[-1])
    return start_update(bmc, name, None, params.get("Targets") or [], params.get("@Redfish.OperationApplyTime"),
                        payload=payload, fetch_uri=uri)


def multipart_update(bmc: "BMC", content_type: str, raw: bytes) -> "Response":
    """MultipartHttpPushUri: parts UpdateParameters (JSON) and UpdateFile (DSP0266 §"Multipart HTTP push")."""
    if "multipart/form-data" not in content_type:
        raise fail(400, "ActionParameterMissing", "MultipartHttpPushUri", "multipart/form-data body")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    params: dict = {}
    filename, data = None, None
    for part in msg.iter_parts():
        field = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if field in ("UpdateParameters", "parameters"):
            try:
                params = json.loads(payload.decode() or "{}")
            except ValueError:
                raise fail(400, "MalformedJSON")
        elif field in ("UpdateFile", "file"):
            filename = part.get_filename() or "image.bin"
            data = payload
    if data is None:
        raise fail(400, "ActionParameterMissing", "MultipartHttpPushUri", "UpdateFile")
    return start_update(bmc, filename, data, params.get("Targets") or [],
                        params.get("@Redfish.OperationApplyTime"))


def post_collection(bmc: "BMC", key: str, body: Any, content_type: str, raw: bytes) -> "Response":
    from .bmc import Response
    upd = bmc.get("/redfish/v1/UpdateService") or {}
    push = {norm(upd[k]) for k in ("MultipartHttpPushUri", "HttpPushUri") if k in upd}
    if key in push:
        return multipart_update(bmc, content_type, raw)
    if bmc.profile.dell_jobs and key == norm(f"{bmc.profile.manager}/Jobs"):
        target = norm(str((body or {}).get("TargetSettingsURI", "")))
        if not target or target not in bmc.pending:
            raise fail(400, "ActionParameterMissing", "Jobs", "TargetSettingsURI with pending values")
        task = _dell_config_job(bmc, target, scheduled=True)
        return Response(200, None, {"Location": bmc.job_path(task)})
    if bmc.get(key) is None:
        raise fail(404, "ResourceNotFound", "Resource", key)
    raise fail(405, "OperationNotAllowed", headers={"Allow": "GET"})
