"""Measure the lab vCenter: /folder Range read throughput over TLS on loopback,
QueryChangedDiskAreas call rate, and the simulator's RSS.

    .venv/bin/python tests/lab/vcsim/bench.py [MiB]   (vcsim must be up)

Prints one JSON object. Creates and destroys its own VM.
"""
from __future__ import annotations

import http.client
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from lab.vcsim.labclient import (VcsimLab, changed_areas, create_vm, destroy_vm, disk_by_key,  # noqa: E402
                                 flat_name, session_cookie, snapshot)

CHUNK = 8 << 20


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def read_ranges(vc: VcsimLab, path: str, cookie: str, ranges: list[tuple[int, int]]) -> int:
    conn = http.client.HTTPSConnection(vc.host, vc.port, context=vc.ssl, timeout=120)
    got = 0
    for start, length in ranges:
        conn.request("GET", path, headers={"Cookie": f"vmware_soap_session={cookie}",
                                           "Range": f"bytes={start}-{start + length - 1}"})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 206 and len(body) == length, (resp.status, len(body))
        got += len(body)
    conn.close()
    return got


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    lab_dir = Path(os.environ.get("REFORGE_LAB_DIR", Path(__file__).resolve().parents[3] / ".lab"))
    vc = VcsimLab(json.loads((lab_dir / "vcsim.json").read_text()))
    si = vc.connect()
    out: dict[str, float] = {"rss_mib_before": rss_mib(vc.info["pid"])}
    vm = create_vm(si, f"bench-{uuid.uuid4().hex[:6]}", [64 << 30], cbt=True)
    try:
        data = os.urandom(CHUNK)
        t = time.monotonic()
        for i in range(mib * (1 << 20) // CHUNK):
            vc.write(vm.name, 2000, i * CHUNK, data)
        out["guest_write_mb_s"] = mib * 1.048576 / (time.monotonic() - t)
        snap = snapshot(vm, "bench")
        base = flat_name(disk_by_key(snap.config.hardware.device, 2000).backing.fileName)
        path, cookie = vc.folder_path(base), session_cookie(si)
        ranges = [(i * CHUNK, CHUNK) for i in range(mib * (1 << 20) // CHUNK)]

        t = time.monotonic()
        n = read_ranges(vc, path, cookie, ranges)
        out["range_read_1_stream_mb_s"] = n / 1e6 / (time.monotonic() - t)

        t = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            n = sum(pool.map(lambda part: read_ranges(vc, path, cookie, part), [ranges[i::4] for i in range(4)]))
        out["range_read_4_streams_mb_s"] = n / 1e6 / (time.monotonic() - t)

        hole = [((32 << 30) + i * CHUNK, CHUNK) for i in range(mib * (1 << 20) // CHUNK)]
        t = time.monotonic()
        n = read_ranges(vc, path, cookie, hole)
        out["range_read_holes_mb_s"] = n / 1e6 / (time.monotonic() - t)

        vc.set_window(vm.name, 2000, 1 << 30)
        t = time.monotonic()
        dummy, calls = changed_areas(vm, snap, 2000, "*", 64 << 30)
        out["qcda_calls_per_s"] = calls / (time.monotonic() - t)
        out["rss_mib_after"] = rss_mib(vc.info["pid"])
        out["mib_read"] = mib
    finally:
        destroy_vm(vm)
        vc.disconnect(si)
    print(json.dumps({k: round(v, 1) for k, v in out.items()}))


if __name__ == "__main__":
    main()
