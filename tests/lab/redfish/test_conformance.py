"""DMTF's redfish-service-validator (offline, local CSDL) finds no failures on what we serve.

The suite runs the trees assembled in this repository (Dell, xFusion: ~60 s); the HPE and DMTF mockup
templates take minutes each (iLO's BIOS attribute registry alone, which validator 3.x reaches through
its registry file's Location[].Uri, takes minutes in each of its three languages) and run when
REFORGE_CONFORMANCE_ALL=1 (or with ``python -m lab.redfish.conformance``). What the validator failed on
the HPE tree (issue 12: RegistryEntries.BaseConfigs) is checked on every template's BIOS registry here
against the same CSDL, in seconds."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from lab.redfish.bmc import BMC, Config
from lab.redfish.conformance import run
from lab.redfish.profiles import PROFILES
from lab.redfish.tree import SCHEMA_DIR

SUITE = ["dell-r640-h730p", "xfusion-2288h-v6"]
TEMPLATES = list(PROFILES) if os.environ.get("REFORGE_CONFORMANCE_ALL") else SUITE


@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES)
def test_service_validator_reports_no_failures(template, pki, tmp_path):
    result = run([template], pki["cert"], pki["key"], pki["ca"], tmp_path)[template]
    print(f"\n{template}: pass {result['pass']} warn {result['warn']} fail {result['fail']} in {result['seconds']}s")
    assert result["pass"] > 500, "the validator walked the tree"
    assert result["fail"] == 0, "\n".join(result["failures"][:40])


def _schema_registry_entries() -> set[str]:
    """Properties the AttributeRegistry schema (every version in our CSDL) defines in RegistryEntries."""
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    root = ET.parse(SCHEMA_DIR / "AttributeRegistry_v1.xml").getroot()
    return {prop.get("Name") for ctype in root.iter(f"{edm}ComplexType") if ctype.get("Name") == "RegistryEntries"
            for prop in ctype.findall(f"{edm}Property")}


@pytest.mark.parametrize("template", list(PROFILES))
def test_served_bios_registries_hold_only_what_the_schema_defines(template):
    """The check the validator makes on iLO's BIOS registry (RegistryEntries.BaseConfigs was undefined), on
    every template's BIOS registry in every language, in a second: the validator needs minutes a registry."""
    allowed = _schema_registry_entries()
    bmc = BMC(1, template, PROFILES[template], 0, config=Config())
    name = bmc.get(bmc.system()["Bios"]["@odata.id"])["AttributeRegistry"]
    files = [bmc.get(m["@odata.id"]) or {} for m in (bmc.get("/redfish/v1/Registries") or {}).get("Members", [])]
    [registry_file] = [f for f in files if name.split(".")[0] in (f.get("Registry") or "")]
    served = [bmc.get(loc["Uri"]) for loc in registry_file["Location"] if loc.get("Uri")]
    assert served and all(served)
    for body in served:
        assert set(body["RegistryEntries"]) <= allowed, body["@odata.id"]
