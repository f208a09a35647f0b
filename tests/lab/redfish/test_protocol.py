"""Protocol behaviour every simulated BMC shares: sessions, ETags, PATCH rules, power,
boot override, virtual media, fault injection and the request log."""
from __future__ import annotations

import time

import pytest
import requests

from lab.redfish.client_helpers import LabBMC, is_write

from lab.redfish.conftest import POWER_DELAY

HPE_SYS = "/redfish/v1/Systems/1"
DELL_SYS = "/redfish/v1/Systems/System.Embedded.1"


def login(c: LabBMC) -> requests.Response:
    return c.http.post(c.endpoint + "/redfish/v1/SessionService/Sessions",
                       json={"UserName": "root", "Password": "calvin"}, timeout=10)


def test_session_create_use_delete(bmc):
    c = bmc("node2")
    r = login(c)
    assert r.status_code == 201
    token, location = r.headers["X-Auth-Token"], r.headers["Location"]
    assert location.startswith("/redfish/v1/SessionService/Sessions/")
    hdr = {"X-Auth-Token": token}
    assert c.http.get(c.endpoint + HPE_SYS, headers=hdr).status_code == 200
    members = c.http.get(c.endpoint + "/redfish/v1/SessionService/Sessions", headers=hdr).json()["Members"]
    assert {"@odata.id": location} in members
    assert c.http.delete(c.endpoint + location, headers=hdr).status_code == 204
    assert c.http.get(c.endpoint + HPE_SYS, headers=hdr).status_code == 401


def test_session_idle_expiry_gives_401(bmc):
    c = bmc("node1")
    c.config(session_timeout=1)
    hdr = {"X-Auth-Token": login(c).headers["X-Auth-Token"]}
    assert c.http.get(c.endpoint + DELL_SYS, headers=hdr).status_code == 200
    time.sleep(1.3)
    r = c.http.get(c.endpoint + DELL_SYS, headers=hdr)
    assert r.status_code == 401
    assert r.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith("NoValidSession")


def test_session_timeout_is_settable_over_redfish(bmc):
    c = bmc("node3")
    r = c.patch("/redfish/v1/SessionService", {"SessionTimeout": 600})
    assert r.status_code == 200
    assert c.state()["config"]["session_timeout"] == 600


def test_basic_auth_and_anonymous_access(bmc):
    c = bmc("spare6")
    assert c.get("/redfish/v1/Systems").status_code == 200
    assert c.get("/redfish/v1/Systems", auth=("root", "wrong")).status_code == 401
    anon = c.http.get(c.endpoint + "/redfish/v1/Systems", timeout=10)
    assert anon.status_code == 401 and "Basic" in anon.headers["WWW-Authenticate"]
    assert c.http.get(c.endpoint + "/redfish/v1/", timeout=10).status_code == 200
    assert login(c).status_code == 201
    bad = c.http.post(c.endpoint + "/redfish/v1/SessionService/Sessions",
                      json={"UserName": "root", "Password": "nope"}, timeout=10)
    assert bad.status_code == 401


def test_etag_if_match(bmc):
    c = bmc("node2")
    r = c.get(HPE_SYS)
    etag = r.headers["ETag"]
    assert r.json()["@odata.etag"] == etag
    stale = c.patch(HPE_SYS, {"AssetTag": "x"}, headers={"If-Match": 'W/"00000000"'})
    assert stale.status_code == 412
    assert c.get(HPE_SYS).json()["AssetTag"] != "x"
    ok = c.patch(HPE_SYS, {"AssetTag": "rack7"}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["AssetTag"] == "rack7"
    assert ok.headers["ETag"] != etag
    # the old tag is now stale
    assert c.patch(HPE_SYS, {"AssetTag": "y"}, headers={"If-Match": etag}).status_code == 412
    assert c.get(HPE_SYS, headers={"If-None-Match": ok.headers["ETag"]}).status_code == 304


def test_patch_rejects_read_only_and_unlisted_values(bmc):
    c = bmc("node1")
    r = c.patch(DELL_SYS, {"SerialNumber": "X"})
    assert r.status_code == 400 and "PropertyNotWritable" in r.json()["error"]["code"]
    r = c.patch(DELL_SYS, {"Boot": {"BootSourceOverrideTarget": "Floppy2"}})
    assert r.status_code == 400 and "PropertyValueNotInList" in r.json()["error"]["code"]
    # Attributes live behind the Settings object; the current BIOS is read-only
    assert c.patch(f"{DELL_SYS}/Bios", {"Attributes": {"SriovGlobalEnable": "Enabled"}}).status_code == 405


def test_power_transitions_take_time_and_call_the_node_hook(bmc, fleet):
    c = bmc("node1")
    r = c.post(f"{DELL_SYS}/Actions/ComputerSystem.Reset", {"ResetType": "ForceOff"})
    assert r.status_code == 204
    assert c.json(DELL_SYS)["PowerState"] == "PoweringOff"
    time.sleep(POWER_DELAY + 0.3)
    assert c.json(DELL_SYS)["PowerState"] == "Off"
    c.post(f"{DELL_SYS}/Actions/ComputerSystem.Reset", {"ResetType": "On"})
    assert c.json(DELL_SYS)["PowerState"] == "PoweringOn"
    time.sleep(POWER_DELAY + 0.3)
    assert c.json(DELL_SYS)["PowerState"] == "On"
    time.sleep(0.3)
    calls = fleet.hook_calls.read_text().splitlines()
    assert "power node1 off" in calls and "power node1 on" in calls
    bad = c.post(f"{DELL_SYS}/Actions/ComputerSystem.Reset", {"ResetType": "Sideways"})
    assert bad.status_code == 400


def test_hpe_refuses_power_on_when_on(bmc):
    c = bmc("node2")
    r = c.post(f"{HPE_SYS}/Actions/ComputerSystem.Reset", {"ResetType": "On"})
    assert r.status_code == 400 and "InvalidOperationForSystemState" in r.text


def reboot(c: LabBMC, system: str) -> None:
    assert c.post(f"{system}/Actions/ComputerSystem.Reset", {"ResetType": "ForceRestart"}).status_code == 204
    time.sleep(POWER_DELAY + 0.4)
    assert c.json(system)["PowerState"] == "On"


def test_boot_override_once_clears_after_boot_continuous_stays(bmc):
    c = bmc("node1")
    r = c.patch(DELL_SYS, {"Boot": {"BootSourceOverrideEnabled": "Once", "BootSourceOverrideTarget": "Cd",
                                    "BootSourceOverrideMode": "UEFI"}})
    assert r.status_code == 200
    reboot(c, DELL_SYS)
    boot = c.json(DELL_SYS)["Boot"]
    assert (boot["BootSourceOverrideEnabled"], boot["BootSourceOverrideTarget"]) == ("Disabled", "None")
    assert c.state()["boot_history"][-1]["source"] == "Cd"
    c.patch(DELL_SYS, {"Boot": {"BootSourceOverrideEnabled": "Continuous", "BootSourceOverrideTarget": "Pxe"}})
    reboot(c, DELL_SYS)
    reboot(c, DELL_SYS)
    assert [b["source"] for b in c.state()["boot_history"][-2:]] == ["Pxe", "Pxe"]
    assert c.json(DELL_SYS)["Boot"]["BootSourceOverrideEnabled"] == "Continuous"


@pytest.mark.parametrize("name,media", [("node1", "/redfish/v1/Managers/iDRAC.Embedded.1/VirtualMedia/CD"),
                                        ("node2", "/redfish/v1/Managers/1/VirtualMedia/2"),
                                        ("node3", "/redfish/v1/Managers/1/VirtualMedia/CD")])
def test_virtual_media_insert_eject(bmc, name, media):
    c = bmc(name)
    image = "https://127.0.0.1:18900/isos/debian-13-netinst.iso"
    r = c.post(f"{media}/Actions/VirtualMedia.InsertMedia", {"Image": image, "Inserted": True})
    assert r.status_code == 204
    vm = c.json(media)
    assert vm["Inserted"] is True and vm["Image"] == image and vm["ImageName"] == "debian-13-netinst.iso"
    again = c.post(f"{media}/Actions/VirtualMedia.InsertMedia", {"Image": image})
    assert again.status_code == 409
    assert c.post(f"{media}/Actions/VirtualMedia.EjectMedia", {}).status_code == 204
    assert c.json(media)["Inserted"] is False
    assert c.post(f"{media}/Actions/VirtualMedia.InsertMedia", {}).status_code == 400


def test_fault_status_with_retry_after_then_recovers(bmc):
    c = bmc("node2")
    c.fault("status", status=503, path="/Systems/1$", count=2, retry_after=3)
    for _attempt in range(2):
        r = c.get(HPE_SYS)
        assert r.status_code == 503 and r.headers["Retry-After"] == "3"
    assert c.get(HPE_SYS).status_code == 200
    assert c.get("/redfish/v1/Chassis").status_code == 200  # path filter honoured


def test_fault_delay_makes_client_time_out(bmc):
    c = bmc("node2")
    c.fault("delay", seconds=1.5, method="GET", path="/Systems")
    with pytest.raises(requests.Timeout):
        c.get(HPE_SYS, timeout=0.5)
    assert c.get(HPE_SYS, timeout=5).status_code == 200


def test_fault_drop_closes_connection(bmc):
    c = bmc("node3")
    c.fault("drop", path="/Systems/1$")
    with pytest.raises(requests.ConnectionError):
        c.get("/redfish/v1/Systems/1")
    assert c.get("/redfish/v1/Systems/1").status_code == 200
    assert c.log_since(0)[-2]["fault"] == "drop"


def test_fault_expire_sessions(bmc):
    c = bmc("node1")
    hdr = {"X-Auth-Token": login(c).headers["X-Auth-Token"]}
    c.fault("expire_sessions", path="/Chassis")
    assert c.http.get(c.endpoint + DELL_SYS, headers=hdr).status_code == 200
    assert c.http.get(c.endpoint + "/redfish/v1/Chassis", headers=hdr).status_code == 401
    assert c.state()["sessions"] == 0


def test_fault_precondition_once(bmc):
    c = bmc("node2")
    c.fault("precondition", method="PATCH")
    assert c.patch(HPE_SYS, {"AssetTag": "a"}).status_code == 412
    assert c.patch(HPE_SYS, {"AssetTag": "a"}).status_code == 200


def test_fault_unknown_kind_rejected(bmc):
    c = bmc("node2")
    r = c.http.post(c.endpoint + "/_lab/faults", json={"kind": "meteor"}, timeout=5)
    assert r.status_code == 400


def test_write_counting_ignores_reads_and_login_logout(bmc):
    c = bmc("node2")
    cursor = c.cursor()
    r = login(c)
    c.http.get(c.endpoint + HPE_SYS, headers={"X-Auth-Token": r.headers["X-Auth-Token"]})
    c.http.delete(c.endpoint + r.headers["Location"], headers={"X-Auth-Token": r.headers["X-Auth-Token"]})
    assert c.writes_since(cursor) == []
    c.patch(HPE_SYS, {"AssetTag": "counted"})
    writes = c.writes_since(cursor)
    assert [(w["method"], w["path"]) for w in writes] == [("PATCH", HPE_SYS)]
    assert is_write({"method": "DELETE", "path": "/redfish/v1/Systems/1/Storage/X/Volumes/1"})


def test_reset_restores_template(bmc):
    c = bmc("node2")
    c.patch(HPE_SYS, {"AssetTag": "changed"})
    c.reset()
    assert c.json(HPE_SYS)["AssetTag"] != "changed"


def test_clones_have_distinct_identity(fleet, pki):
    """Two BMCs of the same template (node1 and spare5 are both iDRAC9) differ in serial, UUID, MACs."""
    a, b = (LabBMC(f"https://127.0.0.1:{x.port}", pki["ca"]) for x in fleet.bmcs if x.name in ("node1", "spare5"))
    sa, sb = a.json(DELL_SYS), b.json(DELL_SYS)
    assert sa["SKU"] != sb["SKU"] and sa["UUID"] != sb["UUID"]
    nic = f"{DELL_SYS}/EthernetInterfaces/NIC.Integrated.1-1-1"
    assert a.json(nic)["MACAddress"] != b.json(nic)["MACAddress"]
