"""Reuse grading on bmc_info-shaped facts."""
from __future__ import annotations

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.redfish.reuse import (
    REUSABLE, RETIRE, WITH_CHANGES, cpu_generation, grade, summary,
)


def server(**over):
    facts = dict(
        vendor="dell", endpoint="https://bmc", system=dict(model="PowerEdge R640", serial="X"),
        cpus=[dict(model="Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", cores=20,
                   virtualization=dict(cpu_virtualization=True, iommu=True, sriov=True))] * 2,
        memory=dict(total_gib=384),
        storage=[dict(model="HBA330", mode="hba", hba_capable=True,
                      drives=[dict(id="d%d" % i, predicted_life_left_percent=95) for i in range(4)])],
        nics=[dict(speed_mbps=25000), dict(speed_mbps=25000), dict(speed_mbps=1000)],
        firmware=[dict(id="Installed-159-2.19.1", name="BIOS", version="2.19.1")],
    )
    facts.update(over)
    return facts


@pytest.mark.parametrize("model, gen, year", [
    ("Intel(R) Xeon(R) CPU E5-2640 v3 @ 2.60GHz", "Haswell", 2014),
    ("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", "Broadwell", 2016),
    ("Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", "Sandy Bridge", 2012),
    ("Intel(R) Xeon(R) Silver 4310 CPU @ 2.10GHz", "Ice Lake", 2021),
    ("Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", "Cascade Lake", 2019),
    ("AMD EPYC 7302 16-Core Processor", "Rome", 2019),
    ("Some Future CPU", None, None),
])
def test_cpu_generation(model, gen, year):
    assert cpu_generation(model) == (gen, year)


def test_a_good_server_is_reusable():
    result = grade(server())
    assert result["grade"] == REUSABLE and result["reasons"] == []
    assert result["measured"]["cpu_generation"] == "Cascade Lake" and result["measured"]["fast_ports"] == 2


def test_fixable_by_the_prepare_stage_stays_reusable():
    facts = server(storage=[dict(model="PERC H730P", mode="raid", hba_capable=True,
                                 drives=[dict(id="d%d" % i) for i in range(4)])])
    facts["cpus"] = [dict(facts["cpus"][0], virtualization=dict(cpu_virtualization=True, iommu=True, sriov=False))]
    baseline = [dict(component="^BIOS$", version="2.20.1", image_uri="u", vendor="dell"),
                dict(component="^BIOS$", version="9.0", image_uri="u", vendor="hpe")]
    result = grade(facts, baseline=baseline)
    assert result["grade"] == REUSABLE
    assert {r["area"] for r in result["reasons"]} == {"controller", "bios", "firmware"}
    assert result["measured"]["firmware_behind"] == [dict(component="BIOS", version="2.19.1", baseline="2.20.1")]


def test_raid_only_controller_worn_disks_and_slow_nics_need_changes():
    facts = server(storage=[dict(model="PERC H755", mode="raid", hba_capable=False,
                                 drives=[dict(id="d0", predicted_life_left_percent=5)] +
                                        [dict(id="d%d" % i, predicted_life_left_percent=90) for i in (1, 2, 3)])],
                   nics=[dict(speed_mbps=1000)] * 4)
    result = grade(facts)
    assert result["grade"] == WITH_CHANGES
    texts = " | ".join(r["text"] for r in result["reasons"])
    assert "replace it with an HBA" in texts and "replace 1 worn" in texts and "add a NIC" in texts


def test_old_cpu_or_tiny_ram_retires():
    old = server(cpus=[dict(model="Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", cores=8)])
    assert grade(old)["grade"] == RETIRE
    assert grade(server(memory=dict(total_gib=16)))["grade"] == RETIRE
    assert grade(old, criteria=dict(min_cpu_year=2010))["grade"] == REUSABLE


def test_campus_summary():
    graded = {"a": grade(server()), "b": grade(server(memory=dict(total_gib=16))),
              "c": grade(server(nics=[]))}
    s = summary(graded)
    assert s["counts"] == {REUSABLE: 1, WITH_CHANGES: 1, RETIRE: 1}
    assert (s["reused"], s["reused_share"]) == (2, 0.667)
