"""plan_pool decides which ceph commands a pool needs; the lab test proves they work."""
from __future__ import annotations

import pytest

from ansible_collections.reforge.hci.plugins.modules.ceph_pool import plan_pool
from ansible_collections.reforge.hci.plugins.module_utils.platform.ceph import normalise_volume_list

RULES = [{"rule_id": 0, "rule_name": "replicated_rule"}, {"rule_id": 1, "rule_name": "reforge_replicated"}]


def params(**over):
    base = dict(name="vms", size=3, min_size=2, pg_num=32, crush_rule="reforge_replicated",
                failure_domain="host", application="rbd")
    base.update(over)
    return base


def pool(**over):
    base = dict(pool_name="vms", size=3, min_size=2, crush_rule=1, pg_num=32, application_metadata={"rbd": {}})
    base.update(over)
    return base


def test_new_pool_creates_rule_pool_and_app():
    _before, after, cmds = plan_pool(params(), [], RULES[:1])
    assert cmds[0] == ["osd", "crush", "rule", "create-replicated", "reforge_replicated", "default", "host"]
    assert ["osd", "pool", "create", "vms", "32", "32", "replicated", "reforge_replicated"] in cmds
    assert cmds[-1] == ["osd", "pool", "application", "enable", "vms", "rbd"]
    assert after["size"] == 3 and after["min_size"] == 2


def test_matching_pool_needs_nothing():
    before, after, cmds = plan_pool(params(), [pool()], RULES)
    assert cmds == []
    assert before == after


def test_shrinking_sets_min_size_first():
    cmds = plan_pool(params(size=2, min_size=1), [pool()], RULES)[2]
    assert cmds == [["osd", "pool", "set", "vms", "min_size", "1"], ["osd", "pool", "set", "vms", "size", "2"]]


def test_growing_sets_size_first_and_moves_rule():
    cmds = plan_pool(params(size=4, min_size=3), [pool(crush_rule=0)], RULES)[2]
    assert cmds == [["osd", "pool", "set", "vms", "crush_rule", "reforge_replicated"],
                    ["osd", "pool", "set", "vms", "size", "4"], ["osd", "pool", "set", "vms", "min_size", "3"]]


def test_min_size_outside_range_is_refused():
    with pytest.raises(ValueError):
        plan_pool(params(size=2, min_size=3), [], RULES)


def test_volume_list_raw_and_lvm_normalised():
    raw = {"3": {"osd_id": 3, "osd_uuid": "u3", "device": "/dev/loop7", "ceph_fsid": "f", "type": "bluestore"}}
    lvm = {"1": [{"type": "block", "devices": ["/dev/sdb"],
                  "tags": {"ceph.osd_fsid": "u1", "ceph.cluster_fsid": "f"}},
                 {"type": "db", "devices": ["/dev/nvme0n1"], "tags": {}}]}
    assert normalise_volume_list("raw", raw) == [{"id": 3, "uuid": "u3", "device": "/dev/loop7", "cluster_fsid": "f"}]
    assert normalise_volume_list("lvm", lvm) == [{"id": 1, "uuid": "u1", "device": "/dev/sdb", "cluster_fsid": "f"}]


@pytest.mark.parametrize("size, min_size", [(3, 4), (3, 0)])
@pytest.mark.refusal(area="cluster (ceph_pool, ceph role's ceph_pools)", field="ceph_pools[].min_size",
                     message="must be between 1 and size 3",
                     fix="a min_size from 1 to size: 2 for size 3 (the pool stops I/O below min_size copies)")
def test_min_size_outside_1_to_size_is_refused_before_any_command(size, min_size, proves_refusal):
    with pytest.raises(ValueError) as refused:
        plan_pool(params(size=size, min_size=min_size), [pool()], RULES)
    assert str(refused.value) == "min_size %d must be between 1 and size %d" % (min_size, size)
    proves_refusal(str(refused.value))
