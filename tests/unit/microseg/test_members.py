"""Tier membership from the migration waves: built from the wave and its preflight, merged with the inventory."""
import pytest

from ansible_collections.reforge.hci.plugins.module_utils.microseg import members

RESULTS = [{"vm": "db01", "ok": True, "macs": ["00:50:56:AA:00:01"]},
           {"vm": "app01", "ok": False, "macs": ["00:50:56:aa:00:02"]},
           {"vm": "nonic", "ok": True, "macs": []}]


def test_wave_members_skip_blocked_vms_and_vms_without_a_nic():
    got = members.wave_members([{"name": "db01", "tier": "tier1"}, {"name": "app01", "tier": "tier2"},
                                {"name": "nonic", "tier": "tier2"}, {"name": "gone", "tier": "tier2"}], RESULTS, "w1")
    assert got == [{"name": "db01", "tier": "tier1", "macs": ["00:50:56:aa:00:01"], "source": "wave w1"}]


def test_a_wave_vm_without_a_tier_is_refused():
    with pytest.raises(members.MembersError, match=r"migration_wave_vms\[0\] \(db01\): no tier"):
        members.wave_members([{"name": "db01"}], RESULTS)


def test_merge_joins_macs_keeps_inventory_keys_and_drops_sources():
    inventory = [{"name": "db01", "tier": "tier1", "macs": ["52:54:00:00:00:01"], "interfaces": ["vm-db01"]}]
    wave = [{"name": "db01", "tier": "tier1", "macs": ["00:50:56:AA:00:01"], "source": "wave w1"},
            {"name": "app02", "tier": "tier2", "macs": ["00:50:56:aa:00:03"], "source": "wave w1"}]
    assert members.merge(inventory, [wave, wave]) == [
        {"name": "db01", "tier": "tier1", "macs": ["00:50:56:aa:00:01", "52:54:00:00:00:01"], "interfaces": ["vm-db01"]},
        {"name": "app02", "tier": "tier2", "macs": ["00:50:56:aa:00:03"]}]


def test_two_tiers_for_one_vm_are_refused_naming_both_places():
    with pytest.raises(members.MembersError, match=r"VM db01 is in tier tier1 \(wave w1\) and in tier tier3 \(wave w2\)"):
        members.merge([], [[{"name": "db01", "tier": "tier1", "macs": [], "source": "wave w1"}],
                           [{"name": "db01", "tier": "tier3", "macs": [], "source": "wave w2"}]])
