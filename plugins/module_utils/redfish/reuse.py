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

from ansible_collections.reforge.hci.plugins.module_utils.redfish.cpu_generations import (
    CPU_GENERATIONS, OLDEST_SUPPORTED,
)
from ansible_collections.reforge.hci.plugins.module_utils.redfish.firmware import applicable, plan_updates

REUSABLE, WITH_CHANGES, RETIRE = "reusable", "reusable_with_changes", "retire"
ORDER = {REUSABLE: 0, WITH_CHANGES: 1, RETIRE: 2}
PASSTHROUGH = ("hba", "jbod", "nonraid")

# The documented defaults (docs/redfish.md "Reuse grading"); roles/reuse_report/defaults/main.yml
# spells the same values out for the inventory to override (a unit test keeps them equal).
DEFAULT_CRITERIA = dict(
    oldest_cpu_generation=dict(OLDEST_SUPPORTED),  # per CPU vendor; older: retire
    min_cpu_year=None,          # optional: a launch-year floor instead of the generation one
    min_ram_gib=128,            # below: add memory
    retire_ram_gib=32,          # below: not worth it
    min_data_disks=2,           # OSD candidates besides the boot disk(s)
    min_disk_life_left_percent=20,
    min_nic_speed_mbps=10000,   # the storage network's port speed
    min_fast_ports=2,           # Ethernet ports at that speed (FC/InfiniBand do not count)
    controller_modes=["hba", "nonraid", "jbod"],   # as hardware_prepare_controller_modes
)


def cpu_info(model):
    """dict(vendor, generation, year, rank) of a CPU model string, or None when no row matches."""
    for vendor, pattern, name, year, rank in CPU_GENERATIONS:
        if re.search(pattern, model or "", re.I):
            return dict(vendor=vendor, generation=name, year=year, rank=rank)
    return None


def cpu_generation(model):
    """(generation, year) of a CPU model string, or (None, None) when unknown."""
    info = cpu_info(model)
    return (info["generation"], info["year"]) if info else (None, None)


def _generation_rank(vendor, name):
    return next((rank for v, _p, n, _y, rank in CPU_GENERATIONS if v == vendor and n == name), None)


def ethernet_ports(facts):
    """The ports that can carry the cluster's networks (bond candidates): Fibre Channel and InfiniBand
    never count, whether bmc_info listed them apart (fc_ports) or an older reader mixed them in."""
    return [n for n in facts.get("nics") or [] if n.get("protocol") in (None, "Ethernet")]


def storage_plan(storage, modes=None, allow_data_loss=False):
    """What the prepare stage will do with each storage entry of bmc_info; one list for the reuse grade
    and the prepare preflight, so they cannot disagree.

    Each item: id, model, attachment, action (``none``: drives reach the OS already, ``switch``: the
    prepare stage switches the controller to ``mode``, ``keep``: no mode wanted, ``replace``: it cannot
    pass drives through over Redfish), mode, offers, destroys (RAID volumes a switch deletes), text."""
    modes = list(DEFAULT_CRITERIA["controller_modes"] if modes is None else modes)
    plan = []
    for s in storage or []:
        model = s.get("model") or s.get("id") or "storage controller"
        item = dict(id=s.get("id"), model=model, attachment=s.get("attachment") or "controller",
                    action="none", mode=s.get("pending_mode") or s.get("mode"), offers=s.get("supported_modes") or [],
                    destroys=[])
        current, pending = s.get("mode"), s.get("pending_mode")
        if item["attachment"] == "direct":
            item["text"] = "%d drive(s) attached without a RAID controller (%s): raw to the OS already" % (
                len(s.get("drives") or []), model)
        elif current in PASSTHROUGH or pending in PASSTHROUGH:
            item["text"] = "%s passes drives through already (%s)" % (model, pending or current)
        elif not modes:
            item.update(action="keep", text="%s stays in %s mode (no pass-through mode wanted)" % (model, current))
        else:
            target = next((m for m in modes if m in item["offers"]), None)
            if target is None:
                item.update(action="replace", mode=None, text=(
                    "%s cannot pass disks through (offers %s over Redfish): replace it with an HBA"
                    % (model, ", ".join(item["offers"]) or "no mode switch")))
            else:
                doomed = [v.get("id") for v in s.get("volumes") or [] if v.get("raid_type") not in (None, "None")]
                item.update(action="switch", mode=target, destroys=doomed, text=(
                    "%s is in %s mode; the prepare stage switches it to %s" % (model, current or "unknown", target)))
                if doomed:
                    item["text"] += (
                        ", which destroys %d RAID volume(s) (%s): copy off what they hold; the switch needs "
                        "hardware_prepare_allow_data_loss: true%s" % (
                            len(doomed), ", ".join(str(d) for d in doomed),
                            "" if not allow_data_loss else " (set)"))
        plan.append(item)
    return plan


def firmware_gap(facts, baseline, uncomparable=None):
    """Components behind the baseline entries that apply to this server: [{component, version, baseline}].

    Versions that do not compare with the baseline go into `uncomparable` (see plan_updates)."""
    entries = applicable(baseline, facts.get("vendor"), (facts.get("system") or {}).get("model"))
    plan, _unmatched = plan_updates(facts.get("firmware") or [], entries, uncomparable=uncomparable)
    return [dict(component=p["component"], version=p["from"], baseline=p["to"]) for p in plan]


def _cpu_reasons(cpus, c, reason):
    models = sorted(set(p.get("model") or "" for p in cpus))
    info = cpu_info(models[0]) if models else None
    if not cpus:
        reason(RETIRE, "cpu", "no CPU inventory from the BMC")
    elif info is None or len(set(str(cpu_info(m)) for m in models)) > 1:
        reason(WITH_CHANGES, "cpu", "unknown CPU generation (%s): check by hand" % ", ".join(models),
               change="check the CPU generation by hand")
    elif c.get("min_cpu_year"):
        if info["year"] < c["min_cpu_year"]:
            reason(RETIRE, "cpu", "%s (%s, %d) is older than %d"
                   % (models[0], info["generation"], info["year"], c["min_cpu_year"]))
    else:
        oldest = (c.get("oldest_cpu_generation") or {}).get(info["vendor"])
        floor = _generation_rank(info["vendor"], oldest)
        if oldest and floor is None:
            reason(WITH_CHANGES, "cpu", "oldest_cpu_generation %r is not a known %s generation: check by hand"
                   % (oldest, info["vendor"]), change="fix the oldest_cpu_generation criterion")
        elif floor is not None and info["rank"] < floor:
            reason(RETIRE, "cpu", "%s (%s, %d) is older than %s, the oldest %s generation still getting microcode "
                   "updates" % (models[0], info["generation"], info["year"], oldest, info["vendor"].upper()
                                if info["vendor"] == "amd" else info["vendor"].capitalize()))
    return models, info


def grade(facts, criteria=None, baseline=None):
    """Grade one server; returns grade, reasons (each with the grade it implies and, for
    reusable_with_changes, the change it needs), the changes, and the measured values."""
    c = dict(DEFAULT_CRITERIA, **(criteria or {}))
    reasons = []

    def reason(level, area, text, change=None):
        reasons.append(dict(grade=level, area=area, text=text, change=change))

    cpus = facts.get("cpus") or []
    models, info = _cpu_reasons(cpus, c, reason)
    virt = (cpus[0].get("virtualization") or {}) if cpus else {}
    off = [f for f in ("cpu_virtualization", "iommu", "sriov") if virt.get(f) is False]
    if off:
        reason(REUSABLE, "bios", "BIOS has %s off (the prepare stage turns them on)" % ", ".join(off))

    ram = (facts.get("memory") or {}).get("total_gib") or 0
    if ram < c["retire_ram_gib"]:
        reason(RETIRE, "memory", "%s GiB RAM is below %d GiB" % (ram, c["retire_ram_gib"]))
    elif ram < c["min_ram_gib"]:
        reason(WITH_CHANGES, "memory", "%s GiB RAM: add memory to reach %d GiB" % (ram, c["min_ram_gib"]),
               change="more RAM")

    storage = facts.get("storage") or []
    drives = [d for s in storage for d in s.get("drives") or []]
    worn = [d for d in drives if d.get("predicted_life_left_percent") is not None
            and d["predicted_life_left_percent"] < c["min_disk_life_left_percent"]]
    failing = [d for d in drives if d.get("failure_predicted")]
    usable = len(drives) - len(set(d.get("id") for d in worn + failing))
    if usable < c["min_data_disks"] + 1:
        reason(WITH_CHANGES, "disks", "%d healthy drive(s); Ceph wants a boot disk plus at least %d data disks"
               % (usable, c["min_data_disks"]), change="more drives")
    if worn or failing:
        reason(WITH_CHANGES, "disks", "replace %d worn/failing drive(s): %s"
               % (len(worn + failing), ", ".join(sorted(set(d.get("id") or "?" for d in worn + failing)))),
               change="replacement drives")
    if not storage:
        reason(WITH_CHANGES, "controller", "no storage controller visible over Redfish: check how the disks are "
               "attached by hand (an HBA gives Ceph raw disks)", change="check the disk controller by hand")
    plan = storage_plan(storage, c["controller_modes"])
    for item in plan:
        if item["action"] == "switch":
            reason(REUSABLE, "controller", item["text"])
        elif item["action"] == "replace":
            reason(WITH_CHANGES, "controller", item["text"], change="a new HBA")

    nics = ethernet_ports(facts)
    fast = [n for n in nics if (n.get("speed_mbps") or 0) >= c["min_nic_speed_mbps"]]
    if len(fast) < c["min_fast_ports"]:
        card = "10/25 GbE" if c["min_nic_speed_mbps"] <= 10000 else ">= %d GbE" % (c["min_nic_speed_mbps"] // 1000)
        reason(WITH_CHANGES, "network", "%d Ethernet port(s) at >= %d Gb/s, %d wanted: add a NIC (a %s card)"
               % (len(fast), c["min_nic_speed_mbps"] // 1000, c["min_fast_ports"], card),
               change="a %s card" % card)

    uncomparable = []
    gap = firmware_gap(facts, baseline, uncomparable)
    if gap:
        reason(REUSABLE, "firmware", "%d component(s) behind the baseline (%s); the prepare stage updates them"
               % (len(gap), ", ".join("%s %s<%s" % (g["component"], g["version"], g["baseline"]) for g in gap)))
    for u in uncomparable:
        reason(WITH_CHANGES, "firmware", "%s version %r does not compare with the baseline %r: check by hand"
               % (u["component"], u["version"], u["baseline"]), change="check the firmware version by hand")

    verdict = max([r["grade"] for r in reasons] or [REUSABLE], key=ORDER.get)
    changes = []
    for r in reasons:
        if r["grade"] == WITH_CHANGES and r["change"] not in changes:
            changes.append(r["change"])
    system = facts.get("system") or {}
    return dict(
        grade=verdict, reasons=reasons, changes=changes if verdict == WITH_CHANGES else [],
        server=dict(vendor=facts.get("vendor"), manufacturer=system.get("manufacturer"), model=system.get("model"),
                    serial=system.get("serial"), endpoint=facts.get("endpoint")),
        measured=dict(cpu_model=models[0] if models else None, cpu_generation=info and info["generation"],
                      cpu_year=info and info["year"],
                      sockets=len(cpus), cores=sum(p.get("cores") or 0 for p in cpus), ram_gib=ram,
                      drives=len(drives), worn_drives=len(worn), fast_ports=len(fast),
                      # Per drive with a reported wear: the stage 5 exporters publish it (reforge_disk_wear_percent).
                      drive_wear=[dict(id=d.get("id"), model=d.get("model"),
                                       used_percent=100 - d["predicted_life_left_percent"])
                                  for d in drives if d.get("predicted_life_left_percent") is not None],
                      fc_ports=len(facts.get("fc_ports") or []) + len([n for n in facts.get("nics") or []
                                                                       if n not in nics]),
                      controllers=[dict(model=s.get("model"), mode=s.get("mode"), hba_capable=s.get("hba_capable"),
                                        attachment=p["attachment"], action=p["action"])
                                   for s, p in zip(storage, plan)],
                      firmware_behind=gap, virtualization=virt),
    )


def summary(graded):
    """Campus summary over {host: grade result}: reusable as is, after a named change (and which
    changes, how often), to retire."""
    counts = dict((g, 0) for g in ORDER)
    changes = {}
    for result in graded.values():
        counts[result["grade"]] += 1
        for change in result.get("changes") or []:
            changes[change] = changes.get(change, 0) + 1
    total = len(graded)
    reused = counts[REUSABLE] + counts[WITH_CHANGES]
    return dict(total=total, counts=counts, reused=reused, changes=changes,
                reused_share=round(float(reused) / total, 3) if total else 0.0)
