"""The simulated BMCs judge BIOS values by their Attribute Registry, as a BMC does (issue 12): a client
that skips the check is caught with 400 and Base.1.x PropertyValueNotInList / PropertyValueOutOfRange /
PropertyNotWritable / PropertyValueTypeError in @Message.ExtendedInfo, and nothing is staged.

Requests go straight to the dispatcher (no sockets): each check takes milliseconds."""
from __future__ import annotations

import base64
import json

import pytest

from lab.redfish.bmc import BMC, Config
from lab.redfish.errors import RedfishError
from lab.redfish.profiles import PROFILES
from lab.redfish.server import dispatch
from lab.redfish.vendor_ops import attribute_registry, registry_refusals

AUTH = {"authorization": "Basic " + base64.b64encode(b"root:calvin").decode(), "if-match": "*"}


def sim(template: str) -> BMC:
    return BMC(1, template, PROFILES[template], 0, config=Config())


def bios_of(bmc: BMC) -> tuple[str, dict]:
    uri = bmc.system()["Bios"]["@odata.id"]
    return uri, bmc.get(uri)


def patch(bmc: BMC, uri: str, attrs: dict) -> tuple[int, list[str]]:
    try:
        resp = dispatch(bmc, "PATCH", uri, AUTH, json.dumps({"Attributes": attrs}).encode())
    except RedfishError as exc:
        return exc.status, [m["MessageId"].rsplit(".", 1)[-1] for m in exc.messages]
    return resp.status, []


@pytest.mark.parametrize("template", list(PROFILES))
def test_every_tree_has_a_registry_that_covers_its_bios(template):
    bmc = sim(template)
    _uri, bios = bios_of(bmc)
    registry = attribute_registry(bmc, bios["AttributeRegistry"])
    assert registry, f"{template}: no registry {bios['AttributeRegistry']} reachable from /redfish/v1/Registries"
    assert set(bios["Attributes"]) <= set(registry), "every attribute is described"
    # the template's own values are ones its registry allows (read-only ones are not written back)
    writable = {k: v for k, v in bios["Attributes"].items()
                if not (registry[k].get("ReadOnly") or registry[k].get("Immutable") or registry[k].get("GrayOut"))}
    assert registry_refusals(bmc, bios, writable) == []


@pytest.mark.parametrize("template,attrs,refusals", [
    ("dell-r640-h730p", {"ProcVirtualization": "Enabeld"}, ["PropertyValueNotInList"]),
    ("dell-r640-h730p", {"SysProfile": "PerfOptimized", "BootMode": "Legacy"}, ["PropertyValueNotInList"]),
    ("xfusion-2288h-v6", {"SRIOVEnable": "enabled"}, ["PropertyValueNotInList"]),
    ("dmtf-rackmount1", {"ProcCoreDisable": 9}, ["PropertyValueOutOfRange"]),
    ("dmtf-rackmount1", {"ProcCoreDisable": "2"}, ["PropertyValueTypeError"]),
    ("dmtf-rackmount1", {"AdminPhone": "call me"}, ["PropertyValueFormatError"]),
    ("hpe-dl360-gen10plus", {"Sriov": "Enabeld", "EnabledCoresPerProc": 65, "TpmState": "NotPresent"},
     ["PropertyValueNotInList", "PropertyValueOutOfRange", "PropertyNotWritable"]),
    ("hpe-dl380-gen11", {"ServerName": "x" * 29}, ["PropertyValueOutOfRange"]),
])
def test_values_outside_the_registry_are_refused_and_nothing_is_staged(template, attrs, refusals):
    bmc = sim(template)
    uri, bios = bios_of(bmc)
    settings = bios["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
    before = json.dumps(bmc.get(settings), sort_keys=True)
    assert patch(bmc, settings, attrs) == (400, refusals)
    assert bmc.pending == {} and json.dumps(bmc.get(settings), sort_keys=True) == before


@pytest.mark.parametrize("template,attrs", [
    ("dell-r640-h730p", {"SysProfile": "PerfOptimized", "SriovGlobalEnable": "Enabled"}),
    ("hpe-dl360-gen10plus", {"WorkloadProfile": "Virtualization-MaxPerformance", "EnabledCoresPerProc": 8}),
    ("xfusion-2288h-v6", {"BenchMarkSelection": "Performance", "SRIOVEnable": "Enabled"}),
    ("dmtf-rackmount1", {"ProcCoreDisable": 2, "AdminPhone": "+49 30 1234"}),
])
def test_values_the_registry_allows_are_staged(template, attrs):
    bmc = sim(template)
    _uri, bios = bios_of(bmc)
    status, refused = patch(bmc, bios["@Redfish.Settings"]["SettingsObject"]["@odata.id"], attrs)
    assert status in (200, 202, 204) and refused == [] and bmc.pending
