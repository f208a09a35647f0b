"""Reuse grading on bmc_info-shaped facts."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.reforge.hci.plugins.module_utils.redfish.reuse import (
    DEFAULT_CRITERIA, REUSABLE, RETIRE, WITH_CHANGES, cpu_generation, grade, storage_plan, summary,
)

REPO = Path(__file__).resolve().parents[3]


def server(**over):
    facts = dict(
        vendor="dell", endpoint="https://bmc", system=dict(model="PowerEdge R640", serial="X"),
        cpus=[dict(model="Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", cores=20,
                   virtualization=dict(cpu_virtualization=True, iommu=True, sriov=True))] * 2,
        memory=dict(total_gib=384),
        storage=[dict(model="HBA330", mode="hba", hba_capable=True, supported_modes=["raid", "hba"],
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
    # issue 12: current parts, and models the table does not know (never guessed)
    ("Intel(R) Xeon(R) 6740P", "Granite Rapids", 2024),
    ("Intel(R) Xeon(R) 6980P", "Granite Rapids", 2024),
    ("Intel(R) Xeon(R) 6780E", "Sierra Forest", 2024),
    ("Intel(R) Xeon(R) 6966P-C", "Granite Rapids", 2024),
    ("INTEL(R) XEON(R) GOLD 6526Y", "Emerald Rapids", 2023),
    ("Intel(R) Xeon(R) Platinum 8592+", "Emerald Rapids", 2023),
    ("Intel(R) Xeon(R) Gold 6430", "Sapphire Rapids", 2023),
    ("AMD EPYC 9355 32-Core Processor", "Turin", 2024),
    ("AMD EPYC 9965 192-Core Processor", "Turin", 2024),
    ("AMD EPYC 9654 96-Core Processor", "Genoa", 2022),
    ("AMD EPYC 9754 128-Core Processor", "Bergamo", 2023),
    ("AMD EPYC 7763 64-Core Processor", "Milan", 2021),
    ("Hygon C86 7390 32-core Processor", None, None),
    ("Ampere(R) Altra(R) Processor Q80-30", None, None),
])
def test_cpu_generation(model, gen, year):
    assert cpu_generation(model) == (gen, year)


def test_a_good_server_is_reusable():
    result = grade(server())
    assert result["grade"] == REUSABLE and result["reasons"] == []
    assert result["measured"]["cpu_generation"] == "Cascade Lake" and result["measured"]["fast_ports"] == 2


def test_fixable_by_the_prepare_stage_stays_reusable():
    facts = server(storage=[dict(model="PERC H730P", mode="raid", hba_capable=True,
                                 supported_modes=["raid", "hba", "nonraid", "jbod"],
                                 drives=[dict(id="d%d" % i) for i in range(4)])])
    facts["cpus"] = [dict(facts["cpus"][0], virtualization=dict(cpu_virtualization=True, iommu=True, sriov=False))]
    baseline = [dict(component="^BIOS$", version="2.20.1", image_uri="u", vendor="dell"),
                dict(component="^BIOS$", version="9.0", image_uri="u", vendor="hpe")]
    result = grade(facts, baseline=baseline)
    assert result["grade"] == REUSABLE
    assert {r["area"] for r in result["reasons"]} == {"controller", "bios", "firmware"}
    assert result["measured"]["firmware_behind"] == [dict(component="BIOS", version="2.19.1", baseline="2.20.1")]


def test_raid_only_controller_worn_disks_and_slow_nics_need_changes():
    facts = server(storage=[dict(model="PERC H755", mode="raid", hba_capable=False, supported_modes=["raid"],
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


# -- issue 12: CPU generations as data, ports that are not NICs, storage as it is, named changes --------
def test_unknown_cpu_is_checked_by_hand_never_guessed():
    result = grade(server(cpus=[dict(model="Hygon C86 7390 32-core Processor", cores=32)] * 2))
    assert result["grade"] == WITH_CHANGES and result["measured"]["cpu_generation"] is None
    [cpu] = [r for r in result["reasons"] if r["area"] == "cpu"]
    assert "check by hand" in cpu["text"] and cpu["change"]


def test_cpu_without_microcode_support_retires_unless_the_campus_says_otherwise():
    haswell = server(cpus=[dict(model="Intel(R) Xeon(R) CPU E5-2640 v3 @ 2.60GHz", cores=8)] * 2)
    result = grade(haswell)
    assert result["grade"] == RETIRE
    assert "older than Skylake" in result["reasons"][0]["text"]
    assert grade(haswell, criteria=dict(oldest_cpu_generation=dict(intel="Haswell")))["grade"] == REUSABLE
    assert grade(server(cpus=[dict(model="AMD EPYC 7251 8-Core Processor", cores=8)] * 2))["grade"] == REUSABLE


def test_fc_and_infiniband_ports_are_not_uplinks():
    fc = [dict(id="FC.Slot.3-%d" % i, speed_mbps=32000, protocol="FC") for i in (1, 2)]
    # Listed apart (as bmc_info does now) or mixed in by an older reader: neither counts.
    for facts in (server(nics=[dict(speed_mbps=1000, protocol="Ethernet")], fc_ports=fc),
                  server(nics=[dict(speed_mbps=1000)] + fc + [dict(speed_mbps=100000, protocol="InfiniBand")])):
        result = grade(facts)
        assert result["grade"] == WITH_CHANGES and result["measured"]["fast_ports"] == 0
        assert result["changes"] == ["a 10/25 GbE card"]


DIRECT = dict(id="DA000000", model="VO003840KYDMT", attachment="direct", mode="direct", supported_modes=[],
              hba_capable=False, passthrough=True, drives=[dict(id="n%d" % i) for i in range(4)])


def test_storage_plan_is_what_prepare_will_do():
    plan = storage_plan([
        DIRECT,
        dict(id="A", model="PERC H755", mode="nonraid", supported_modes=["raid"]),
        dict(id="B", model="PERC H755", mode="raid", supported_modes=["raid"]),
        dict(id="C", model="PERC H730P", mode="raid", supported_modes=["raid", "hba", "nonraid"],
             volumes=[dict(id="Disk.Virtual.0", raid_type="RAID1"), dict(id="jbod", raid_type="None")]),
        dict(id="D", model="MR408i", mode="raid", pending_mode="nonraid", supported_modes=["raid", "nonraid"]),
    ], ["hba", "nonraid"])
    assert [(p["id"], p["action"], p["mode"]) for p in plan] == [
        ("DA000000", "none", "direct"), ("A", "none", "nonraid"), ("B", "replace", None),
        ("C", "switch", "hba"), ("D", "none", "nonraid")]
    assert plan[3]["destroys"] == ["Disk.Virtual.0"]
    assert "destroys 1 RAID volume(s) (Disk.Virtual.0)" in plan[3]["text"]
    assert "offers raid over Redfish" in plan[2]["text"] and "replace it with an HBA" in plan[2]["text"]
    assert [p["action"] for p in storage_plan([dict(id="B", mode="raid", supported_modes=["raid"])], [])] == ["keep"]


def test_direct_nvme_and_passthrough_grade_ready():
    for storage in ([DIRECT, dict(DIRECT, id="DA000001")],
                    [dict(model="PERC H755", mode="nonraid", supported_modes=["raid"],
                          drives=[dict(id="d%d" % i) for i in range(4)])]):
        result = grade(server(storage=storage))
        assert result["grade"] == REUSABLE, result["reasons"]
        assert not [r for r in result["reasons"] if r["area"] == "controller"]


def test_every_change_is_named_and_the_summary_counts_them():
    facts = server(memory=dict(total_gib=64), nics=[dict(speed_mbps=1000)],
                   storage=[dict(model="PERC H755", mode="raid", supported_modes=["raid"],
                                 drives=[dict(id="d%d" % i) for i in range(4)])])
    result = grade(facts)
    assert result["changes"] == ["more RAM", "a new HBA", "a 10/25 GbE card"]
    assert all(r["change"] for r in result["reasons"] if r["grade"] == WITH_CHANGES)
    s = summary({"a": result, "b": grade(server()), "c": grade(server(memory=dict(total_gib=16)))})
    assert s["counts"] == {REUSABLE: 1, WITH_CHANGES: 1, RETIRE: 1}
    assert s["changes"] == {"more RAM": 1, "a new HBA": 1, "a 10/25 GbE card": 1}


def test_role_defaults_spell_out_the_grading_defaults():
    criteria = yaml.safe_load((REPO / "roles/reuse_report/defaults/main.yml").read_text())["reuse_report_criteria"]
    # the modes follow the prepare role's, so the grade and prepare agree
    assert "default(['hba', 'nonraid', 'jbod'])" in criteria.pop("controller_modes")
    assert criteria == {k: v for k, v in DEFAULT_CRITERIA.items() if k != "controller_modes"}
    prepare = yaml.safe_load((REPO / "roles/hardware_prepare/defaults/main.yml").read_text())
    assert prepare["hardware_prepare_controller_modes"] == DEFAULT_CRITERIA["controller_modes"]
