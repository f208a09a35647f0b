"""Copy throughput against the lab vCenter's /folder endpoint, each variant against a baseline of the same run.

Variants: parallel Range streams vs one stream, coalesced reads vs one request per
CBT extent, zero-skip vs writing zeros, and an incremental (CBT) copy of 4 MiB changed against the
plain range copy of the whole allocated disk. Figures (MB/s, requests, bytes read vs
allocated, bytes written) are printed and written to $REFORGE_LAB_DIR/perf/migration.json.
Only the deterministic effects are asserted (requests saved by coalescing, bytes not
written by zero-skip); rates depend on what else the shared machine runs.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings
from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import VmSync
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "integration", "migration"))
from migration_labvc import LabVC, assert_identical  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.slow]
MiB = 1 << 20
BLOCK = 64 * 1024
VM = "app01"


@pytest.fixture(scope="module")
def source(lab):
    """app01 gets 512 CBT-sized 64 KiB extents with 64 KiB holes between them (what random small guest
    writes look like), 64 MiB allocated with every other MiB zero, and 64 MiB of plain data."""
    vc = LabVC(lab.get("vcsim"))
    conn = vc.connect()
    key = vmops.vm_facts(conn, vmops.find_vm(conn, VM))["disks"][0]["key"]
    base = 33 << 30  # a region no other lab test writes
    for i in range(512):
        vc.write(VM, key, base + i * 2 * BLOCK, os.urandom(BLOCK))
    half_zero = b"".join(os.urandom(MiB) + bytes(MiB) for dummy in range(32))
    vc.write(VM, key, base + 256 * MiB, half_zero)
    vc.write(VM, key, base + 512 * MiB, os.urandom(64 * MiB))
    yield vc, conn, key
    conn.close()


def _run(vc, conn, tmp_path, label, fmt="raw", into=None, **settings):
    target = tmp_path / (into or label)
    disks = vmops.vm_facts(conn, vmops.find_vm(conn, VM))["disks"]
    targets = {str(d["key"]): {"format": fmt, "path": str(target / ("disk%d.%s" % (d["key"], fmt)))} for d in disks}
    result = VmSync(conn, VM, targets, str(target / "journal"), CopySettings(**settings)).run()
    disk = result["disks"][0]
    return {"label": label, "settings": settings, "bytes_areas": disk["bytes_areas"],
            "bytes_read": disk["bytes_read"], "bytes_written": disk["bytes_written"], "bytes_zero": disk["bytes_zero"],
            "requests": disk["reader"]["requests"], "seconds": disk["duration"],
            "mb_per_s": round(disk["bytes_areas"] / disk["duration"] / 1e6, 1), "path": targets[str(disks[0]["key"])]}


def by_label(runs):
    return {r["label"]: r for r in runs}


def test_copy_variants_against_a_baseline(source, tmp_path, lab):
    vc, conn, key = source
    baseline = dict(streams=1, coalesce_gap=0, zero_skip=False, read_size=8 * MiB)
    runs = [
        _run(vc, conn, tmp_path, "baseline_1stream_nocoalesce_nozeroskip", **baseline),
        _run(vc, conn, tmp_path, "streams4", **{**baseline, "streams": 4}),
        _run(vc, conn, tmp_path, "coalesce1MiB", **{**baseline, "coalesce_gap": MiB}),
        _run(vc, conn, tmp_path, "zeroskip", **{**baseline, "zero_skip": True}),
        _run(vc, conn, tmp_path, "all_defaults", ),
        _run(vc, conn, tmp_path, "all_defaults_qcow2_via_qemu_io", fmt="qcow2"),
    ]
    base = runs[0]
    for run in runs:
        run["ratio_vs_baseline"] = round(run["mb_per_s"] / base["mb_per_s"], 2)
        run["read_vs_allocated"] = round(run["bytes_read"] / run["bytes_areas"], 3)
        path = run.pop("path")["path"]
        if path.endswith(".qcow2"):
            raw = path + ".raw"
            subprocess.run(["qemu-img", "convert", "-O", "raw", path, raw], check=True)
            path = raw
        assert_identical(vc.base_file(VM, key), path)
    # the alternative to writing qcow2 directly: copy into raw, then convert (its cost comes on top of the copy)
    raw_default = str(tmp_path / "all_defaults" / ("disk%d.raw" % key))
    started = time.monotonic()
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", raw_default, raw_default + ".qcow2"], check=True)
    runs.append({"label": "raw_then_qemu_img_convert_to_qcow2 (convert only)",
                 "seconds": round(time.monotonic() - started, 2), "mb_per_s": None, "ratio_vs_baseline": None,
                 "requests": 0, "read_vs_allocated": 0, "bytes_written": 0, "bytes_zero": 0,
                 "note": "seconds of the conversion alone, after the raw copy"})
    # incremental: 4 MiB changed in 64 places, copied into the all_defaults target by CBT, against the plain
    # range copy of the whole allocated disk (the all_defaults full sync of this run) as the baseline
    for i in range(64):
        vc.write(VM, key, (33 << 30) + i * 2 * BLOCK, os.urandom(BLOCK))
    full = by_label(runs)["all_defaults"]
    incremental = _run(vc, conn, tmp_path, "incremental_4MiB_changed", into="all_defaults")
    incremental.pop("path")
    incremental.update(ratio_vs_baseline=round(incremental["seconds"] / full["seconds"], 3),
                       read_vs_changed=round(incremental["bytes_read"] / (64 * BLOCK), 3),
                       read_vs_allocated=round(incremental["bytes_read"] / incremental["bytes_areas"], 3),
                       baseline="all_defaults (plain range copy of every allocated extent)",
                       note="ratio_vs_baseline is seconds incremental / seconds full here")
    assert_identical(vc.base_file(VM, key), str(tmp_path / "all_defaults" / ("disk%d.raw" % key)))
    runs.append(incremental)
    by = by_label(runs)
    # deterministic effects
    # CBT answers exactly what changed; coalescing may read the 64 KiB gaps between the changes too
    assert incremental["bytes_areas"] == 64 * BLOCK and incremental["bytes_read"] < 2 * 64 * BLOCK, incremental
    assert by["coalesce1MiB"]["requests"] < base["requests"] / 4, "coalescing merges CBT extents into few reads"
    assert by["zeroskip"]["bytes_written"] <= base["bytes_written"] - 32 * MiB, "zero chunks are not written"
    assert all(r["bytes_areas"] == base["bytes_areas"] for r in runs if "bytes_areas" in r and r is not incremental)
    report = os.path.join(os.path.dirname(os.path.dirname(lab.get("vcsim")["ca"])), "perf", "migration.json")
    os.makedirs(os.path.dirname(report), exist_ok=True)
    with open(report, "w") as handle:
        json.dump(runs, handle, indent=1)
    for run in runs:
        if run["mb_per_s"] is None:
            print("%-40s %7.2f s" % (run["label"], run["seconds"]))
            continue
        print("%-40s %7.1f MB/s x%.2f  requests=%5d  read/allocated=%.3f  written=%d zero=%d" % (
            run["label"], run["mb_per_s"], run["ratio_vs_baseline"], run["requests"], run["read_vs_allocated"],
            run["bytes_written"], run["bytes_zero"]))
