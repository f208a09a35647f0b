"""Reports that keep their history, and the wave report's view (reforge.hci.report_history filters)."""
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.reforge.hci.plugins.filter.report_history import FilterModule

F = FilterModule().filters()
T0 = 1796316730.0  # 2026-12-03T16:52:10+00:00


def _sync(vm, phase, kind, finished, duration=2.0, warnings=()):
    return {"vm": vm, "totals": {"bytes_areas": 7340032, "bytes_read": 7340032, "bytes_written": 7340032, "bytes_zero": 0,
                                 "bytes_cleared": 0, "duration": duration, "read_mb_per_s": 3.67},
            "sync_warnings": list(warnings),
            "disks": [{"key": 2000, "label": "Hard disk 1", "kind": kind, "finished_at": finished,
                       "target": "rbd:vms/%s-disk2000" % vm, "capacity_bytes": 2 << 30, "bytes_areas": 7340032,
                       "verification": {"policy": "full", "bytes_compared": 7340032,
                                        "bytes_zero_confirmed": (2 << 30) - 7340032, "bytes_checked": 2 << 30}}]}


def _cutover(vm, at, cut=True, reason=None):
    steps = [{"step": "power_off", "at": at},
             {"step": "final_sync", "at": at + 1, "kind": "incremental", "totals": _sync(vm, "", "", 0)["totals"]},
             {"step": "convert", "at": at + 1.5}]
    steps += [{"step": "alive", "at": at + 4}] if cut else [{"step": "failed", "at": at + 4, "reason": reason}]
    out = {"vm": vm, "cut_over": cut, "rolled_back": not cut, "steps": steps, "downtime_seconds": 4.0}
    if cut:
        out["sync"] = _sync(vm, "", "incremental", at + 1)
    else:
        out["reason"] = reason
    return out


def _run(started, syncs=(), cutovers=(), done=(), vms=None, preflight=()):
    vms = vms or [{"name": "db01", "tier": "tier1", "mode": "warm"}, {"name": "batch01", "tier": "tier3", "mode": "batch"}]
    tiers = {"tier1": {"rto_minutes": 30, "rpo_minutes": 60}, "tier3": {"rto_minutes": 480, "rpo_minutes": 1440}}
    return F["wave_run"]({"wave": "w1", "started": started, "finished": started,
                          "vms": F["wave_plan"](vms, tiers), "preflight": list(preflight), "blocked": [],
                          "already_cut_over": list(done), "syncs": list(syncs), "cutovers": list(cutovers),
                          "sync_host": "node1", "cutover_method": "libvirt", "ha": True})


def _first_run():
    syncs = [F["wave_sync_record"](_sync("db01", "full", "full", T0 + 10, 8), "full"),
             F["wave_sync_record"](_sync("db01", "incremental1", "incremental", T0 + 40), "incremental1"),
             F["wave_sync_record"](_sync("db01", "incremental2", "incremental", T0 + 70, warnings=[
                 "FULL RESYNC of disk 2000: changeId reset"]), "incremental2")]
    cut_db = _cutover("db01", T0 + 80)
    cut_batch = _cutover("batch01", T0 + 90, cut=False, reason="BootError: alive pattern not seen in 240 s")
    cutovers, final = [], []
    for result, mode in ((cut_db, "warm"), (cut_batch, "batch")):
        cutovers.append(F["wave_cutover_record"](result, result["vm"], mode, [], "node1", "libvirt", True))
        final.append(F["wave_final_sync"](result, result["vm"]))
    return _run("2026-12-03T16:52:10.123+00:00", syncs + [f for f in final if f], cutovers)


def test_units_and_run_ids():
    assert F["human_bytes"](7340032) == "7.0 MiB" and F["human_bytes"](2 << 40) == "2.0 TiB" and F["human_bytes"](12) == "12 B"
    assert F["bytes_cell"](7340032) == '<span class="bytes" title="7,340,032 bytes">7.0 MiB</span>'
    assert F["report_run_id"]("2026-12-03T16:52:10.5+00:00") == "20261203T165210Z"
    assert F["report_run_id"]("2026-12-03T17:52:10+01:00") == "20261203T165210Z"  # its offset counts
    # Ansible's now(utc=true) is naive: the run keeps it with its offset
    run = _run("2026-12-03T16:52:10.5")
    assert run["started"] == "2026-12-03T16:52:10+00:00" and run["run_id"] == "20261203T165210Z"


def test_a_rerun_appends_and_says_nothing_changed():
    first = _first_run()
    history = F["report_history_append"]("", "w1", first)
    rerun = _run("2026-12-03T18:00:00+00:00", done=["db01"])
    history2 = F["report_history_append"](json.loads(json.dumps(history)), "w1", rerun)
    assert history2["runs"][0] == history["runs"][0] and len(history2["runs"]) == 2
    assert not rerun["changed"] and rerun["summary"] == "nothing changed: db01 already cut over, left alone"
    with pytest.raises(AnsibleFilterError, match="in the history already"):
        F["report_history_append"](history2, "w1", rerun)
    with pytest.raises(AnsibleFilterError, match="not a history"):
        F["report_history_append"]({"syncs": []}, "w1", rerun)
    with pytest.raises(AnsibleFilterError, match="holds 'w2'"):
        F["report_history_append"](dict(history, subject="w2"), "w1", rerun)
    view = F["wave_view"](history2)
    rows = {r["vm"]: r for r in view["rows"]}
    db01 = rows["db01"]
    assert db01["status"] == "cut over" and db01["cut_over_run"] == first["run_id"] == "20261203T165210Z"
    assert db01["rto"] == "met" and db01["rpo"] == "met" and db01["lag_seconds"] == 30.0
    assert db01["cutover"]["resource"] == "vm-db01" and db01["cutover"]["node"] == "node1"
    assert db01["cutover"]["source_off_at"] == "2026-12-03T16:53:30+00:00"
    assert db01["verification"]["bytes_checked"] == 2 << 30
    assert any("FULL RESYNC" in s for s in db01["next_steps"]) and db01["verdict"] == "attention"
    batch = rows["batch01"]
    assert batch["status"] == "rolled back" and batch["verdict"] == "failed"
    assert "serial log" in batch["next_steps"][0] and "alive pattern not seen" in batch["next_steps"][0]
    assert view["totals"]["cut_over"] == 1 and view["totals"]["rolled_back"] == 1 and view["totals"]["runs"] == 2
    assert [h["changed"] for h in view["history"]] == [True, False]


def test_missed_rto_and_rpo_say_what_to_do():
    syncs = [F["wave_sync_record"](_sync("db01", "full", "full", T0), "full"),
             F["wave_sync_record"](_sync("db01", "incremental1", "incremental", T0 + 7200), "incremental1")]
    result = _cutover("db01", T0 + 7300)
    result["downtime_seconds"] = 3600.0
    run = _run("2026-12-03T16:52:10+00:00", syncs, [F["wave_cutover_record"](result, "db01", "warm")])
    [row] = [r for r in F["wave_view"](F["report_history_append"]("", "w1", run))["rows"] if r["vm"] == "db01"]
    assert row["rto"] == "missed" and row["rpo"] == "missed"
    assert any("RTO of 30 min" in s for s in row["next_steps"]) and any("RPO of 60 min" in s for s in row["next_steps"])


def test_an_old_single_run_report_becomes_the_first_run():
    old = {"wave": "w1", "started": "2026-12-01T10:00:00+00:00", "finished": "2026-12-01T10:05:00+00:00",
           "preflight": [], "blocked": [], "already_cut_over": [],
           "syncs": [{"vm": "db01", "phase": "full", "kind": "full", "bytes_read": 1}],
           "cutovers": [{"vm": "db01", "cut_over": True, "mode": "warm", "downtime_seconds": 3}]}
    history = F["wave_history_seed"]("", "w1", old)
    assert history["runs"][0]["imported"] and history["runs"][0]["syncs"] == old["syncs"]
    assert F["wave_history_seed"]("", "w1", {}) == {"format": 1, "subject": "w1", "runs": []}


def test_the_timeline_is_an_svg_with_a_bar_per_phase():
    svg = F["wave_timeline_svg"](_first_run())
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for cls in ("full", "incremental", "final", "downtime", "cutover", "rolled_back"):
        assert 'class="bar %s"' % cls in svg, cls
    assert svg.count('<text class="vm"') == 2 and "16:52:" in svg
    assert F["wave_timeline_svg"](_run("2026-12-03T18:00:00+00:00", done=["db01"])) == ""
