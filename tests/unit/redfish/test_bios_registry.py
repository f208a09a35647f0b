"""BIOS values checked against the Attribute Registry before any PATCH (issue 12).

Real registry shapes: HPE's recorded iLO 5 mockup (Registries/BiosAttributeRegistryU46.v1_2_34 ->
RegistryStore/registries/en/...: 552 attributes, Dependencies, BaseConfigs), iDRAC's layout (the
Registries file is named BiosAttributeRegistry and carries another version than the Bios resource
names; the registry is served at .../Bios/BiosRegistry) and xFusion/Huawei's (RegistryStore)."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.redfish.bios_registry import BiosRegistry, load_bios_registry
from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishInvalidValue
from ansible_collections.reforge.hci.plugins.module_utils.redfish.service import BMC
from ansible_collections.reforge.hci.plugins.modules.bmc_bios import set_bios

from .fixture_client import FixtureClient

PARAMS = {"profile": None, "attributes": {}, "apply_time": "OnReset"}


def run(bmc, check_mode=False, profile=None, **attributes):
    warnings: list[str] = []
    result = set_bios(bmc, dict(PARAMS, profile=profile, attributes=attributes), check_mode, warnings.append)
    return result, warnings


# -- HPE iLO 5: the recorded registry ----------------------------------------------------------
def test_ilo5_typo_is_refused_with_the_allowed_values_before_anything_is_sent(hpe_ilo5):
    bmc = BMC(hpe_ilo5)
    with pytest.raises(RedfishInvalidValue) as exc:
        run(bmc, ProcVirtualization="Disabled", Sriov="Enabeld")
    assert "Sriov: 'Enabeld' is not one of the allowed values: Enabled, Disabled" in exc.value.message
    assert "BiosAttributeRegistryU46.v1_2_34" in exc.value.message
    assert hpe_ilo5.writes == []
    with pytest.raises(RedfishInvalidValue):           # check mode refuses too: the real run would
        run(bmc, check_mode=True, Sriov="Enabeld")


@pytest.mark.parametrize("name,value,expected", [
    ("EnabledCoresPerProc", 65, "EnabledCoresPerProc: 65 is outside 0..64"),
    ("EnabledCoresPerProc", -1, "outside 0..64"),
    ("EnabledCoresPerProc", "4", "EnabledCoresPerProc takes an integer, not '4' (give it as a number, without quotes)"),
    ("EnabledCoresPerProc", True, "takes an integer"),
    ("ServerName", "x" * 29, "ServerName: '" + "x" * 29 + "' is longer than 28 characters"),
    ("ServerName", "nœud-1", "does not match"),
    ("ServerName", 42, "ServerName takes a string, not 42"),
    ("TpmState", "PresentDisabled", "TpmState is immutable"),
])
def test_ilo5_ranges_lengths_patterns_types_and_immutable(hpe_ilo5, name, value, expected):
    with pytest.raises(RedfishInvalidValue, match="before anything was sent") as exc:
        run(BMC(hpe_ilo5), **{name: value})
    assert expected in exc.value.message and exc.value.details["problems"]
    assert hpe_ilo5.writes == []


def test_ilo5_valid_values_and_the_profile_pass_and_are_sent(hpe_ilo5):
    result, warnings = run(BMC(hpe_ilo5), profile="virtualization_host", EnabledCoresPerProc=8, ServerName="node2")
    assert result["values_checked"] and warnings == []
    [(method, _uri, body)] = hpe_ilo5.writes
    assert method == "PATCH" and body["Attributes"]["WorkloadProfile"] == "Virtualization-MaxPerformance"


# -- real-shaped registries in other layouts --------------------------------------------------
def registry(entries, name="BiosAttributeRegistry.v1_0_3", dependencies=()):
    return {"@odata.type": "#AttributeRegistry.v1_3_0.AttributeRegistry", "Id": name, "Name": "BIOS Attribute Registry",
            "Language": "en", "OwningEntity": "Dell", "RegistryVersion": "1.0.3",
            "RegistryEntries": {"Attributes": entries, "Dependencies": list(dependencies)}}


def enum(name, *values, **extra):
    return dict({"AttributeName": name, "Type": "Enumeration", "ReadOnly": False,
                 "Value": [{"ValueName": v, "ValueDisplayName": v} for v in values]}, **extra)


SYSTEM = "/redfish/v1/Systems/System.Embedded.1"


def tree(registry_file: dict, registry_body: dict, registry_at: str, bios_registry="BiosAttributeRegistry.v1_0_3"):
    attrs = {"ProcVirtualization": "Enabled", "SriovGlobalEnable": "Disabled", "SysProfile": "PerfPerWattOptimizedDapc",
             "SystemServiceTag": "4XK7LP2", "ProcCores": "All"}
    return FixtureClient({
        "/redfish/v1": {"@odata.id": "/redfish/v1", "Systems": {"@odata.id": "/redfish/v1/Systems"},
                        "Managers": {"@odata.id": "/redfish/v1/Managers"},
                        "Registries": {"@odata.id": "/redfish/v1/Registries"}},
        "/redfish/v1/Systems": {"Members": [{"@odata.id": SYSTEM}]},
        "/redfish/v1/Managers": {"Members": [{"@odata.id": "/redfish/v1/Managers/1"}]},
        SYSTEM: {"@odata.id": SYSTEM, "Bios": {"@odata.id": SYSTEM + "/Bios"}},
        SYSTEM + "/Bios": {"@odata.id": SYSTEM + "/Bios", "AttributeRegistry": bios_registry, "Attributes": attrs,
                           "@Redfish.Settings": {"SettingsObject": {"@odata.id": SYSTEM + "/Bios/Settings"}}},
        SYSTEM + "/Bios/Settings": {"Attributes": {}},
        "/redfish/v1/Registries": {"Members": [{"@odata.id": "/redfish/v1/Registries/Base.1.12.0"},
                                               {"@odata.id": registry_file["@odata.id"]}]},
        "/redfish/v1/Registries/Base.1.12.0": {"@odata.id": "/redfish/v1/Registries/Base.1.12.0", "Id": "Base.1.12.0",
                                               "Registry": "Base.1.12", "Location": [{"Language": "en"}]},
        registry_file["@odata.id"]: registry_file,
        registry_at: registry_body,
    })


DELL_ENTRIES = [enum("ProcVirtualization", "Enabled", "Disabled"), enum("SriovGlobalEnable", "Enabled", "Disabled"),
                enum("SysProfile", "PerfPerWattOptimizedDapc", "PerfPerWattOptimizedOs", "PerfOptimized", "Custom"),
                {"AttributeName": "SystemServiceTag", "Type": "String", "ReadOnly": True, "MaxLength": 7},
                enum("ProcCores", "All", "1", "2", "4", GrayOut=True)]


def idrac_tree(entries=None, dependencies=()):
    entries = DELL_ENTRIES if entries is None else entries
    # iDRAC: the file is BiosAttributeRegistry (Registry v1_0_0) while the Bios names v1_0_3.
    at = SYSTEM + "/Bios/BiosRegistry"
    return tree({"@odata.id": "/redfish/v1/Registries/BiosAttributeRegistry", "Id": "BiosAttributeRegistry",
                 "Registry": "BiosAttributeRegistry.v1_0_0", "Languages": ["en"],
                 "Location": [{"Language": "en", "Uri": at}]},
                registry(entries, dependencies=dependencies), at)


def test_idrac_registry_found_under_its_own_name_refuses_read_only_and_grayed_out():
    client = idrac_tree()
    bmc = BMC(client)
    with pytest.raises(RedfishInvalidValue) as exc:
        run(bmc, SysProfile="PerfOptimised", SystemServiceTag="ABCDEFG", ProcCores="2")
    text = exc.value.message
    assert "SysProfile: 'PerfOptimised' is not one of the allowed values: PerfPerWattOptimizedDapc, " \
           "PerfPerWattOptimizedOs, PerfOptimized, Custom" in text
    assert "SystemServiceTag is read-only" in text and "ProcCores is grayed out" in text
    assert client.writes == []
    result, warnings = run(bmc, SysProfile="PerfOptimized", SriovGlobalEnable="Enabled")
    assert result["values_checked"] and warnings == [] and len(client.writes) == 1


def test_a_grayed_out_attribute_may_change_with_the_setting_that_controls_it():
    dependency = {"DependencyFor": "ProcCores", "Type": "Map", "Dependency": {
        "MapFrom": [{"MapFromAttribute": "SysProfile", "MapFromProperty": "CurrentValue", "MapFromCondition": "EQU",
                     "MapFromValue": "Custom"}],
        "MapToAttribute": "ProcCores", "MapToProperty": "GrayOut", "MapToValue": False}}
    client = idrac_tree(dependencies=[dependency])
    result, _warnings = run(BMC(client), SysProfile="Custom", ProcCores="2")
    assert result["changes"] == {"SysProfile": "Custom", "ProcCores": "2"} and len(client.writes) == 1


def test_xfusion_registry_under_registrystore():
    at = "/redfish/v1/RegistryStore/AttributeRegistry/en/BiosAttributeRegistry.json"
    client = tree({"@odata.id": "/redfish/v1/Registries/BiosAttributeRegistry.1.1.0", "Id": "BiosAttributeRegistry.1.1.0",
                   "Registry": "BiosAttributeRegistry.1.1.0", "Location": [{"Language": "zh"}, {"Language": "en", "Uri": at}]},
                  registry(DELL_ENTRIES, name="BiosAttributeRegistry.1.1.0"), at, bios_registry="BiosAttributeRegistry.1.1.0")
    found, why = load_bios_registry(client, client.get(SYSTEM + "/Bios"))
    assert why is None and found.uri == at
    assert found.problems({"ProcVirtualization": "enabled"}) == [
        "ProcVirtualization: 'enabled' is not one of the allowed values: Enabled, Disabled"]


def test_no_registry_warns_and_keeps_todays_behaviour(dmtf):
    # DMTF's public-rackmount1 names BiosAttributeRegistryP89.v1_0_0 but lists only the Base registry.
    result, warnings = run(BMC(dmtf), ProcTurboMode="Enabeld")
    assert result["changes"] == {"ProcTurboMode": "Enabeld"} and not result["values_checked"]
    assert len(dmtf.writes) == 1
    assert warnings == ["BIOS values for https://recorded.invalid were not checked before the PATCH: "
                        "BiosAttributeRegistryP89.v1_0_0 is not listed in /redfish/v1/Registries; the BMC judges them"]


def test_a_registry_that_cannot_be_read_is_a_warning_too():
    client = idrac_tree()
    del client.resources[(SYSTEM + "/Bios/BiosRegistry").lower()]
    result, warnings = run(BMC(client), SysProfile="PerfOptimised")
    assert len(client.writes) == 1 and "lists no attributes" in warnings[0]


def test_registry_entries_without_limits_accept_any_value_of_their_type():
    found = BiosRegistry(registry([{"AttributeName": "Free", "Type": "String"},
                                   {"AttributeName": "Count", "Type": "Integer"},
                                   {"AttributeName": "Flag", "Type": "Boolean"},
                                   {"AttributeName": "Odd", "Type": "String", "ValueExpression": "(unclosed"}]))
    assert found.problems({"Free": "", "Count": 10 ** 6, "Flag": False, "Odd": "x", "Unlisted": 1}) == []
    assert found.problems({"Flag": "true"}) == ["Flag takes true or false, not 'true'"]
    step = copy.deepcopy(found)
    step.attributes["Count"].update(LowerBound=10, UpperBound=100, ScalarIncrement=10)
    assert step.problems({"Count": 25}) == ["Count: 25 is not a multiple of 10 from 10"]


def test_the_registrys_own_default_passes_its_pattern(hpe_ilo5):
    # iLO: SGX key hashes are 16 hex digits (ValueExpression) but default to "" (MinLength 0).
    found, _why = BMC(hpe_ilo5).bios_registry()
    assert found.problems({"SgxLePublicKeyHash0": ""}) == []
    assert found.problems({"SgxLePublicKeyHash0": "0123"}) == [
        "SgxLePublicKeyHash0: '0123' does not match ^[0-9a-fA-F]{16}$"]
