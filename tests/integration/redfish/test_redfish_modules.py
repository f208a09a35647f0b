"""Every bmc_* module against the lab's vendor simulator.

The pattern per module: check mode (the BMC log shows zero writes) -> apply ->
the same task again reports no change -> the effect is read back from the
simulator -> the BMC is reset to its template.
"""
from __future__ import annotations

import pytest

from redfish_lab import lifecycle, reboot, run_module

pytestmark = pytest.mark.lab


# -- bmc_info ---------------------------------------------------------------------------
@pytest.mark.parametrize("bmc, vendor", [("node1", "dell"), ("node2", "hpe"), ("node3", "xfusion"),
                                         ("node4", "hpe"), ("spare5", "dell"), ("spare6", "generic")],
                         indirect=["bmc"])
def test_info_reads_every_vendor_without_writing(bmc, vendor):
    cursor = bmc.cursor()
    result = run_module("bmc_info", bmc.conn())
    assert not result.get("failed"), result
    facts = result["bmc"]
    assert facts["vendor"] == vendor
    assert facts["system"]["power_state"] == "On"
    assert facts["cpus"] and facts["memory"]["total_gib"]
    assert facts["firmware"] and facts["nics"]
    assert bmc.writes_since(cursor) == []
    entries = bmc.requests_since(cursor)
    assert any(e["method"] == "DELETE" and "/Sessions/" in e["path"] for e in entries), "session must be deleted"
    assert bmc.state()["sessions"] == 0


# -- bmc_power --------------------------------------------------------------------------
@pytest.mark.parametrize("bmc", ["spare6", "node2"], indirect=True)
def test_power_off_and_on(bmc):
    _c, applied, _a = lifecycle(bmc, "bmc_power", bmc.conn(state="off"))
    assert applied["power_state"] == "Off" and bmc.state()["power_state"] == "Off"
    _c, applied, _a = lifecycle(bmc, "bmc_power", bmc.conn(state="on"))
    assert bmc.state()["power_state"] == "On"


# -- bmc_boot ---------------------------------------------------------------------------
@pytest.mark.parametrize("bmc", ["node1", "node2", "node3"], indirect=True)
def test_boot_once_from_cd(bmc):
    checked, applied, _again = lifecycle(bmc, "bmc_boot", bmc.conn(target="Cd", override="once", mode="UEFI"))
    assert checked["diff"]["after"]["BootSourceOverrideTarget"] == "Cd"
    boot = bmc.state()["boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == ("Cd", "Once")
    reboot(bmc)
    assert bmc.state()["boot_history"][-1]["source"] == "Cd"      # used once ...
    assert bmc.state()["boot"]["BootSourceOverrideEnabled"] == "Disabled"   # ... then cleared


# -- bmc_virtual_media ------------------------------------------------------------------
@pytest.mark.parametrize("bmc", ["node1", "node2", "node3", "spare6"], indirect=True)
def test_virtual_media_insert_and_eject(bmc):
    image = "https://127.0.0.1:18999/images/debian-13-%s.iso" % bmc.name
    # The DMTF mockup's CD slot already holds an image: replacing it must be asked for.
    _c, applied, _a = lifecycle(bmc, "bmc_virtual_media", bmc.conn(image=image, replace=True))
    slot = bmc.get(applied["slot"])
    assert slot["Inserted"] is True and slot["Image"] == image
    lifecycle(bmc, "bmc_virtual_media", bmc.conn(image=image, state="ejected"))
    assert bmc.get(applied["slot"])["Inserted"] is False


@pytest.mark.parametrize("bmc", ["spare6"], indirect=True)
@pytest.mark.refusal(area="virtual media (bmc_virtual_media)", field="replace",
                     message="(eject it, or set replace: true)",
                     fix="eject the other image first, or set replace: true if it may go")
def test_virtual_media_does_not_silently_replace_someone_elses_image(bmc, proves_refusal):
    cursor = bmc.cursor()
    result = run_module("bmc_virtual_media", bmc.conn(image="https://127.0.0.1:18999/mine.iso"))
    assert result["failed"] and "freeOS" in result["msg"] and "replace: true" in result["msg"]
    assert result["msg"].startswith("no free virtual media slot for CD on "), result["msg"]
    proves_refusal(result["msg"])
    assert bmc.writes_since(cursor) == []


@pytest.mark.parametrize("bmc", ["node1"], indirect=True)
@pytest.mark.refusal(area="virtual media (bmc_virtual_media)", field="image",
                     message="state is inserted but all of the following are missing: image",
                     fix="give image (the ISO's URL), or state: ejected")
def test_virtual_media_insert_without_an_image_is_refused_before_connecting(bmc, proves_refusal):
    cursor = bmc.cursor()
    result = run_module("bmc_virtual_media", bmc.conn(state="inserted"))
    assert result["failed"], result
    proves_refusal(result["msg"])
    assert bmc.requests_since(cursor) == [], "refused before the BMC was asked anything"


@pytest.mark.parametrize("bmc", ["node1"], indirect=True)
@pytest.mark.refusal(area="boot override (bmc_boot)", field="target",
                     message="cannot boot from cd (offers None, Pxe, Floppy, Cd, ",
                     fix="one of the targets the message lists, spelled as listed (case-sensitive)")
def test_boot_target_the_bmc_does_not_offer_is_refused_before_any_write(bmc, proves_refusal):
    for check in (True, False):
        cursor = bmc.cursor()
        result = run_module("bmc_boot", bmc.conn(target="cd"), check=check)
        assert result["failed"] and result["error_class"] == "RedfishUnsupported", result
        proves_refusal(result["msg"])
        assert "Cd" in result["msg"], result["msg"]
        assert bmc.writes_since(cursor) == []


# -- bmc_storage_controller -------------------------------------------------------------
@pytest.mark.parametrize("bmc", ["node1"], indirect=True)
@pytest.mark.refusal(area="storage controller (bmc_storage_controller)", field="allow_data_loss",
                     message="would destroy 1 volume(s) (Disk.Virtual.0:RAID.Integrated.1-1); set allow_data_loss: true to proceed",
                     fix="back up or move the volumes' data, then set allow_data_loss: true")
def test_dell_perc9_to_hba_needs_consent_then_reboot(bmc, proves_refusal):
    args = bmc.conn(mode="hba")
    cursor = bmc.cursor()
    refused = run_module("bmc_storage_controller", args)
    assert refused["failed"] and "allow_data_loss" in refused["msg"], refused
    proves_refusal(refused["msg"])
    assert bmc.writes_since(cursor) == []
    args["allow_data_loss"] = True
    _c, applied, again = lifecycle(bmc, "bmc_storage_controller", args)
    assert applied["reboot_required"] and applied["pending_mode"] == "hba"
    assert again["reboot_required"] and again["pending_mode"] == "hba"   # staged: no second job
    reboot(bmc)
    done = run_module("bmc_storage_controller", args)
    assert (done["changed"], done["mode"], done["reboot_required"]) == (False, "hba", False), done
    ctrl = bmc.get(bmc.system + "/Storage/RAID.Integrated.1-1/Controllers/RAID.Integrated.1-1")
    assert ctrl["Oem"]["Dell"]["DellStorageController"]["ControllerMode"] == "HBA"


@pytest.mark.parametrize("bmc", ["spare5"], indirect=True)
@pytest.mark.refusal(area="storage controller (bmc_storage_controller)", field="mode",
                     message="PERC H755 Front supports only raid",
                     fix="PERC 11 has no HBA personality over Redfish: use mode nonraid (ConvertToNonRAID) or fit an HBA355")
def test_dell_perc11_to_hba_fails_honestly(bmc, proves_refusal):
    cursor = bmc.cursor()
    result = run_module("bmc_storage_controller", bmc.conn(mode="hba", allow_data_loss=True))
    assert result["failed"] and result["error_class"] == "RedfishUnsupported"
    assert "PERC H755 Front supports only raid" in result["msg"] and "HBA" in result["msg"]
    proves_refusal(result["msg"])
    assert bmc.writes_since(cursor) == []


@pytest.mark.parametrize("bmc", ["node4"], indirect=True)
@pytest.mark.refusal(area="storage controller (bmc_storage_controller)", field="mode",
                     message="HPE MR408i-o Gen11 cannot be switched to hba over Redfish (modes it offers: raid, nonraid, jbod)",
                     fix="choose one of the modes the controller offers (nonraid or jbod give Ceph raw disks)")
def test_refusal_names_the_controller_once_and_what_it_offers(bmc, proves_refusal):
    cursor = bmc.cursor()
    result = run_module("bmc_storage_controller", bmc.conn(mode="hba", allow_data_loss=True))
    assert result["failed"] and result["error_class"] == "RedfishUnsupported", result
    proves_refusal(result["msg"])
    assert result["msg"].startswith("HPE MR408i-o Gen11 cannot be switched to hba over Redfish (modes it offers: raid, "
                                    "nonraid, jbod)"), result["msg"]
    assert "HPE HPE" not in result["msg"] and "ssacli" not in result["msg"]   # Smart Array advice is for Smart Array
    assert bmc.writes_since(cursor) == []


@pytest.mark.parametrize("bmc", ["node3"], indirect=True)
def test_xfusion_jbod(bmc):
    args = bmc.conn(mode="jbod", allow_data_loss=True)
    _c, applied, _a = lifecycle(bmc, "bmc_storage_controller", args)
    facts = run_module("bmc_info", bmc.conn(gather=["storage"]))["bmc"]["storage"][0]
    assert facts["mode"] == "jbod"


@pytest.mark.parametrize("bmc", ["node4"], indirect=True)
def test_ilo6_nonraid_with_autovolumecreate(bmc):
    _c, applied, _a = lifecycle(bmc, "bmc_storage_controller", bmc.conn(mode="nonraid", allow_data_loss=True))
    facts = run_module("bmc_info", bmc.conn(gather=["storage"]))["bmc"]["storage"][0]
    assert facts["mode"] == "nonraid"


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_ilo5_smart_array_to_hba_at_next_post(bmc):
    args = bmc.conn(mode="hba", allow_data_loss=True)
    _c, applied, again = lifecycle(bmc, "bmc_storage_controller", args)
    assert applied["reboot_required"] and again["pending_mode"] == "hba"
    settings = bmc.get(bmc.system + "/smartstorageconfig/settings/")
    assert {p["OperatingModeAfterReboot"] for p in settings["Ports"]} == {"HBA"} and settings["LogicalDrives"] == []
    reboot(bmc)
    facts = run_module("bmc_info", bmc.conn(gather=["storage"]))["bmc"]["storage"][0]
    assert facts["volumes"] == []
    # The port mode took effect at POST, as on a real iLO 5: HBA now, nothing pending, a rerun is a no-op.
    assert (facts["mode"], facts["pending_mode"], facts["passthrough"]) == ("hba", None, True), facts
    done = run_module("bmc_storage_controller", args)
    assert (done["changed"], done["mode"], done["reboot_required"]) == (False, "hba", False), done


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_ilo5_smart_array_nonraid_converges(bmc):
    args = bmc.conn(mode="nonraid", allow_data_loss=True)
    _c, applied, again = lifecycle(bmc, "bmc_storage_controller", args)
    assert (applied["mode"], again["pending_mode"]) == ("mixed", "nonraid")
    reboot(bmc)
    done = run_module("bmc_storage_controller", args)
    assert (done["changed"], done["mode"], done["reboot_required"]) == (False, "nonraid", False), done


# -- bmc_bios ---------------------------------------------------------------------------
@pytest.mark.parametrize("bmc", ["node1", "node2", "node3"], indirect=True)
def test_bios_virtualization_profile_pending_then_applied(bmc):
    args = bmc.conn(profile="virtualization_host")
    checked, applied, again = lifecycle(bmc, "bmc_bios", args)
    assert checked["changes"] == applied["changes"] and applied["changes"]
    assert again["reboot_required"] and again["changes"] == {}
    reboot(bmc)
    after = run_module("bmc_bios", args)
    assert (after["changed"], after["reboot_required"]) == (False, False), after
    current = run_module("bmc_info", bmc.conn(gather=["bios"]))["bmc"]["bios"]["current"]
    for name, value in applied["changes"].items():
        assert current[name] == value


@pytest.mark.parametrize("bmc", ["node1"], indirect=True)
@pytest.mark.refusal(area="BIOS (bmc_bios, hardware_prepare)", field="attributes.<name>",
                     message="NoSuchKnob; nothing was sent (names are case-sensitive: use the names this BIOS lists, "
                             "see bmc_info's bios)",
                     fix="an attribute name this BIOS has, spelled as it lists it")
def test_bios_unknown_attribute_fails(bmc, proves_refusal):
    for check in (True, False):
        cursor = bmc.cursor()
        result = run_module("bmc_bios", bmc.conn(attributes={"NoSuchKnob": "On"}), check=check)
        assert result["failed"] and "unknown BIOS attribute(s) on " in result["msg"], result
        proves_refusal(result["msg"])
        assert bmc.writes_since(cursor) == []


def _bios_refusal(message, fix):
    return pytest.mark.refusal(area="BIOS (bmc_bios, hardware_prepare)", field="attributes.<name>", message=message,
                               fix=fix)


@pytest.mark.parametrize("bmc, attributes", [
    pytest.param("node1", {"ProcVirtualization": "Enabeld"}, marks=_bios_refusal(
        "ProcVirtualization: 'Enabeld' is not one of the allowed values: Enabled, Disabled",
        'a value from the BIOS attribute registry (the message lists them)')),
    pytest.param("node2", {"EnabledCoresPerProc": "4"}, marks=_bios_refusal(
        "EnabledCoresPerProc takes an integer, not '4' (give it as a number, without quotes)",
        'write integers without quotes')),
    pytest.param("node2", {"TpmState": "NotPresent"}, marks=_bios_refusal(
        'TpmState is immutable',
        'leave read-only attributes out of the profile')),
    pytest.param("node3", {"SRIOVEnable": "enabled"}, marks=_bios_refusal(
        "SRIOVEnable: 'enabled' is not one of the allowed values: Enabled, Disabled",
        "values are case-sensitive: the registry's spelling")),
    pytest.param("spare6", {"ProcCoreDisable": 9}, marks=_bios_refusal(
        'ProcCoreDisable: 9 is outside 0..7',
        "a value inside the registry's bounds")),
], indirect=["bmc"])
def test_bios_values_outside_the_registry_are_refused_before_any_write(bmc, attributes, proves_refusal):
    for check in (True, False):
        cursor = bmc.cursor()
        result = run_module("bmc_bios", bmc.conn(attributes=attributes), check=check)
        assert result["failed"] and result["error_class"] == "RedfishInvalidValue", result
        assert "before anything was sent" in result["msg"]
        assert bmc.writes_since(cursor) == []
        proves_refusal(result["msg"])  # the registry's complaint, as the marker says


@pytest.mark.parametrize("bmc", ["node1"], indirect=True)
def test_bios_registry_that_cannot_be_read_is_a_warning_and_the_values_go_unchecked(bmc):
    bmc.fault(kind="status", status=500, path="BiosRegistry", count=-1)
    result = run_module("bmc_bios", bmc.conn(attributes={"SriovGlobalEnable": "Enabled"}, retries=0))
    assert result["changed"] and not result["values_checked"], result
    # ansible-core 2.19 returns warnings as summaries with the text in event.msg, earlier ones as strings
    warnings = [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings", [])]
    assert any("were not checked before the PATCH" in w and "could not be read" in w for w in warnings), result
