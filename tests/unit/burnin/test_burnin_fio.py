"""A short real burn-in: fio's libaio engine on a file in a temp dir, an injected (harmless) failure,
the report rendered by headless Chromium and looked at pixel by pixel. (The RBD engine against the
cluster pool needs the built cluster: later.)"""
from __future__ import annotations

import json
import shutil
import struct
import tempfile
import zlib
from collections import Counter
from pathlib import Path

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.burnin import fio as fiomod
from lab.browser import screenshot
from lab.module_run import run_module

pytestmark = pytest.mark.lab


def png_pixels(data: bytes):
    """RGB(A) pixels of an 8-bit non-interlaced PNG (what Chromium writes), as (width, height, rows of tuples)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def test_short_burnin_with_an_injected_failure_renders_its_report(tmp_path):
    if not shutil.which("fio"):
        pytest.fail("fio is needed (Debian package fio, scripts/apt-packages.txt)")
    marker = tmp_path / "injected"
    args = {"name": "lab-osd-stop", "out_dir": str(tmp_path / "out"), "engine": "libaio",
            "target": {"filename": str(tmp_path / "data"), "size": "32m"}, "runtime": 3, "log_avg_msec": 250,
            "jobs": [{"name": "rand-4k", "rw": "randrw", "bs": "4k", "rwmixread": 70, "iodepth": 8},
                     {"name": "seq-64k", "rw": "rw", "bs": "64k", "iodepth": 4},
                     {"name": "seq-1m", "rw": "rw", "bs": "1m", "iodepth": 2}],
            "inject": {"command": f"date +%s%3N > {marker}", "at_seconds": 1, "label": "osd.0 stopped (stand-in)"},
            "thresholds": {"all": {"max_iops_cv": 5}, "rand-4k": {"min_iops": 1}},
            "baseline": {"rand-4k": {"iops": 100, "p99_ms": 1000}}}
    dry = run_module("burnin_run", args, check=True)
    assert dry["changed"] is True and len(dry["commands"]) == 3 and not (tmp_path / "out").exists()
    res = run_module("burnin_run", args)
    assert res.get("changed") is True and res["verdict"] == "PASS", res
    folder = tmp_path / "out" / "lab-osd-stop"
    report = json.loads((folder / "report.json").read_text())
    [event] = report["events"]
    assert event["job"] == "rand-4k" and event["rc"] == 0 and int(marker.read_text()) - event["started_ms"] in range(0, 1000)
    for job in report["jobs"]:
        for data in job["directions"].values():
            s = data["summary"]
            assert s["intervals"] >= 8 and s["iops"] > 0 and s["p50_ms"] <= s["p99_ms"] <= s["p999_ms"]
            assert all(k in data["intervals"][1] for k in ("iops", "bw_kib", "p50_us", "p99_us", "p999_us"))
            assert s["iops_cv"] is not None and s["p99_cv"] is not None
    # Every per-interval histogram bucket decodes to a bin value fio itself reports in json+.
    bins = {float(k) for k in json.loads((folder / "rand-4k.json").read_text())["jobs"][0]["read"]["clat_ns"]["bins"]}
    decoded = Counter()
    for line in (folder / "rand-4k_clat_hist.1.log").read_text().splitlines():
        fields = [int(x) for x in line.split(",")]
        if fields[1] == 0:
            decoded.update(fiomod.plat_idx_to_val(i) for i, c in enumerate(fields[3:]) if c)
    assert decoded and set(decoded) <= bins
    assert {(r["metric"], r["ratio"] > 1) for r in report["comparison"]} == {("iops", True), ("p99_ms", True)}
    html = (folder / "report.html").read_text()
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert html.count("<svg") == 9 and html.count('class="event"') == 3   # the marker on each rand-4k chart

    # A rerun finds the finished round and runs nothing.
    again = run_module("burnin_run", args)
    assert again["changed"] is False and again["verdict"] == "PASS"

    png = folder / "report.png"
    width, height, rows = png_pixels(screenshot(folder / "report.html", png, tmp_path / "chrome", "1240,1500"))
    top = Counter(px for row in rows[:200] for px in row)
    assert top[(0x2E, 0x7D, 0x32)] > 2000, "the green PASS banner is visible at the top"
    everything = Counter(px for row in rows for px in row)
    assert everything[(0x1F, 0x77, 0xB4)] > 200 and everything[(0xE6, 0x55, 0x0D)] > 200, "chart lines (read, write) drawn"
    assert everything[(0xC6, 0x28, 0x28)] > 50, "the injected failure's marker drawn"
    shutil.copy(png, Path(tempfile.gettempdir()) / "reforge-burnin-report.png")
