"""Which Ceph health checks block a stage (reforge.hci.ceph_blocking_checks)."""
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.reforge.hci.plugins.filter.ceph_health import ceph_blocking_checks

SLOW_PING = {"status": "HEALTH_WARN", "checks": {
    "OSD_SLOW_PING_TIME_BACK": {"severity": "HEALTH_WARN", "muted": False,
                                "summary": {"message": "Slow OSD heartbeats on back (longest 1630.1ms)", "count": 4}},
    "OSD_SLOW_PING_TIME_FRONT": {"severity": "HEALTH_WARN", "muted": False,
                                 "summary": {"message": "Slow OSD heartbeats on front (longest 1602.5ms)", "count": 4}}}}
WARN_ONLY = ["OSD_SLOW_PING_TIME_BACK", "OSD_SLOW_PING_TIME_FRONT"]


def test_health_ok_blocks_nothing():
    assert ceph_blocking_checks('{"status": "HEALTH_OK", "checks": {}, "mutes": []}', WARN_ONLY) == []


def test_load_signals_named_warn_only_do_not_block():
    assert ceph_blocking_checks(json.dumps(SLOW_PING), WARN_ONLY) == []
    # Without the list they block, as any warning does.
    assert ceph_blocking_checks(SLOW_PING) == ["OSD_SLOW_PING_TIME_BACK", "OSD_SLOW_PING_TIME_FRONT"]


def test_a_real_fault_beside_a_load_signal_still_blocks():
    health = json.loads(json.dumps(SLOW_PING))
    health["checks"]["PG_DEGRADED"] = {"severity": "HEALTH_WARN", "summary": {"message": "Degraded data redundancy"}}
    assert ceph_blocking_checks(health, WARN_ONLY) == ["PG_DEGRADED"]


def test_an_error_blocks_even_when_named_warn_only():
    health = {"status": "HEALTH_ERR", "checks": {"OSD_SLOW_PING_TIME_BACK": {"severity": "HEALTH_ERR"}}}
    assert ceph_blocking_checks(health, WARN_ONLY) == ["OSD_SLOW_PING_TIME_BACK"]


def test_muted_checks_do_not_block():
    health = {"status": "HEALTH_WARN", "checks": {"OSDMAP_FLAGS": {"severity": "HEALTH_WARN", "muted": True}}}
    assert ceph_blocking_checks(health) == []


def test_a_bad_status_without_checks_blocks_as_itself():
    assert ceph_blocking_checks({"status": "HEALTH_WARN"}) == ["HEALTH_WARN"]


def test_not_json_is_an_error_not_an_empty_list():
    with pytest.raises(AnsibleFilterError, match="not the JSON"):
        ceph_blocking_checks("Error initializing cluster client", WARN_ONLY)
