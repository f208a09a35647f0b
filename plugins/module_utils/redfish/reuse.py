# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hardware reuse grading: is an old vSphere/vSAN server fit to become a KVM + Ceph node?

Data in, data out (the facts ``bmc_info`` returns); used by the ``reuse_grade`` filter.
Grades: ``reusable`` (as is, after the automated prepare stage), ``reusable_with_changes``
(needs a part or a manual step: controller, NIC, disks, RAM), ``retire``.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.reforge.hci.plugins.module_utils.redfish.firmware import applicable, plan_updates

REUSABLE, WITH_CHANGES, RETIRE = "reusable", "reusable_with_changes", "retire"
ORDER = {REUSABLE: 0, WITH_CHANGES: 1, RETIRE: 2}

DEFAULT_CRITERIA = dict(
    min_cpu_year=2014,          # Haswell/x86-64-v3 and newer
    min_ram_gib=128,            # below: add memory
    retire_ram_gib=32,          # below: not worth it
    min_data_disks=2,           # OSD candidates besides the boot disk(s)
    min_disk_life_left_percent=20,
    min_nic_speed_mbps=10000,
    min_fast_ports=2,
)

# (pattern, generation name, launch year); first match wins.
CPU_GENERATIONS = (
    (r"E5-\d{4}[A-Z]* v4|E7-\d{4} v4", "Broadwell", 2016),
    (r"E5-\d{4}[A-Z]* v3|E7-\d{4} v3", "Haswell", 2014),
    (r"E5-\d{4}[A-Z]* v2|E7-\d{4} v2", "Ivy Bridge", 2013),
    (r"E5-\d{4}[A-Z]*(?! v)|E5-\d{4}[A-Z]* 0", "Sandy Bridge", 2012),
    (r"X5\d{3}|E5\d{3}|L5\d{3}", "Westmere/Nehalem", 2010),
    (r"(Platinum|Gold|Silver|Bronze) \d1\d{2}", "Skylake", 2017),
    (r"(Platinum|Gold|Silver|Bronze) \d2\d{2}", "Cascade Lake", 2019),
    (r"(Platinum|Gold|Silver|Bronze) \d3\d{2}", "Ice Lake", 2021),
    (r"(Platinum|Gold|Silver|Bronze) \d4\d{2}", "Sapphire Rapids", 2023),
    (r"(Platinum|Gold|Silver|Bronze) \d5\d{2}", "Emerald Rapids", 2023),
    (r"EPYC 7\d\d1", "Naples", 2017),
    (r"EPYC 7\d\d2", "Rome", 2019),
    (r"EPYC 7\d\d3", "Milan", 2021),
    (r"EPYC 9\d\d4", "Genoa", 2022),
    (r"EPYC 9\d\d5", "Turin", 2024),
)


def cpu_generation(model):
    """(generation, year) of a CPU model string, or (None, None) when unknown."""
    for pattern, name, year in CPU_GENERATIONS:
        if re.search(pattern, model or "", re.I):
            return name, year
    return None, None


def firmware_gap(facts, baseline, uncomparable=None):
    """Components behind the baseline entries that apply to this server: [{component, version, baseline}].

    Versions that do not compare with the baseline go into `uncomparable` (see plan_updates)."""
    entries = applicable(baseline, facts.get("vendor"), (facts.get("system") or {}).get("model"))
    plan, _unmatched = plan_updates(facts.get("firmware") or [], entries, uncomparable=uncomparable)
    return [dict(component=p["component"], version=p["from"], baseline=p["to"]) for p in plan]


def grade(facts, criteria=None, baseline=None):
    """Grade one server; returns grade, reasons (each with the grade it implies) and the measured values."""
    c = dict(DEFAULT_CRITERIA, **(criteria or {}))
    reasons = []

    def reason(level, area, text):
        reasons.append(dict(grade=level, area=area, text=text))

    cpus = facts.get("cpus") or []
    models = sorted(set(p.get("model") or "" for p in cpus))
    gen, year = cpu_generation(models[0] if models else "")
    if not cpus:
        reason(RETIRE, "cpu", "no CPU inventory from the BMC")
    elif year is None:
        reason(WITH_CHANGES, "cpu", "unknown CPU generation (%s): check by hand" % ", ".join(models))
    elif year < c["min_cpu_year"]:
        reason(RETIRE, "cpu", "%s (%s, %d) is older than %d" % (models[0], gen, year, c["min_cpu_year"]))
    virt = (cpus[0].get("virtualization") or {}) if cpus else {}
    off = [f for f in ("cpu_virtualization", "iommu", "sriov") if virt.get(f) is False]
    if off:
        reason(REUSABLE, "bios", "BIOS has %s off (the prepare stage turns them on)" % ", ".join(off))

    ram = (facts.get("memory") or {}).get("total_gib") or 0
    if ram < c["retire_ram_gib"]:
        reason(RETIRE, "memory", "%s GiB RAM is below %d GiB" % (ram, c["retire_ram_gib"]))
    elif ram < c["min_ram_gib"]:
        reason(WITH_CHANGES, "memory", "%s GiB RAM: add memory to reach %d GiB" % (ram, c["min_ram_gib"]))

    storage = facts.get("storage") or []
    drives = [d for s in storage for d in s.get("drives") or []]
    worn = [d for d in drives if d.get("predicted_life_left_percent") is not None
            and d["predicted_life_left_percent"] < c["min_disk_life_left_percent"]]
    failing = [d for d in drives if d.get("failure_predicted")]
    usable = len(drives) - len(set(d.get("id") for d in worn + failing))
    if usable < c["min_data_disks"] + 1:
        reason(WITH_CHANGES, "disks", "%d healthy drive(s); Ceph wants a boot disk plus at least %d data disks"
               % (usable, c["min_data_disks"]))
    if worn or failing:
        reason(WITH_CHANGES, "disks", "replace %d worn/failing drive(s): %s"
               % (len(worn + failing), ", ".join(sorted(set(d.get("id") or "?" for d in worn + failing)))))
    if not storage:
        reason(WITH_CHANGES, "controller", "no storage controller visible over Redfish")
    for ctrl in storage:
        mode = ctrl.get("pending_mode") or ctrl.get("mode")
        if mode in ("hba", "jbod", "nonraid"):
            continue
        if ctrl.get("hba_capable"):
            reason(REUSABLE, "controller", "%s is in %s mode; the prepare stage switches it to pass-through"
                   % (ctrl.get("model"), mode or "unknown"))
        else:
            reason(WITH_CHANGES, "controller", "%s cannot pass disks through (RAID only): replace it with an HBA"
                   % ctrl.get("model"))

    fast = [n for n in facts.get("nics") or [] if (n.get("speed_mbps") or 0) >= c["min_nic_speed_mbps"]]
    if len(fast) < c["min_fast_ports"]:
        reason(WITH_CHANGES, "network", "%d port(s) at >= %d Gb/s; add a NIC for %d"
               % (len(fast), c["min_nic_speed_mbps"] // 1000, c["min_fast_ports"]))

    uncomparable = []
    gap = firmware_gap(facts, baseline, uncomparable)
    if gap:
        reason(REUSABLE, "firmware", "%d component(s) behind the baseline (%s); the prepare stage updates them"
               % (len(gap), ", ".join("%s %s<%s" % (g["component"], g["version"], g["baseline"]) for g in gap)))
    for u in uncomparable:
        reason(WITH_CHANGES, "firmware", "%s version %r does not compare with the baseline %r: check by hand"
               % (u["component"], u["version"], u["baseline"]))

    verdict = max([r["grade"] for r in reasons] or [REUSABLE], key=ORDER.get)
    system = facts.get("system") or {}
    return dict(
        grade=verdict, reasons=reasons,
        server=dict(vendor=facts.get("vendor"), manufacturer=system.get("manufacturer"), model=system.get("model"),
                    serial=system.get("serial"), endpoint=facts.get("endpoint")),
        measured=dict(cpu_model=models[0] if models else None, cpu_generation=gen, cpu_year=year,
                      sockets=len(cpus), cores=sum(p.get("cores") or 0 for p in cpus), ram_gib=ram,
                      drives=len(drives), worn_drives=len(worn), fast_ports=len(fast),
                      controllers=[dict(model=s.get("model"), mode=s.get("mode"), hba_capable=s.get("hba_capable"))
                                   for s in storage],
                      firmware_behind=gap, virtualization=virt),
    )


def summary(graded):
    """Campus summary over {host: grade result}."""
    counts = dict((g, 0) for g in ORDER)
    for result in graded.values():
        counts[result["grade"]] += 1
    total = len(graded)
    reused = counts[REUSABLE] + counts[WITH_CHANGES]
    return dict(total=total, counts=counts, reused=reused,
                reused_share=round(float(reused) / total, 3) if total else 0.0)
