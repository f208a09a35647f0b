"""Progress of a sync: the arithmetic (percent, rate, ETA), the progress file and the bounded lines (issue 17)."""
import json

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import progress as pg
from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings, copy_extents
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import SyncJournal
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import RawFileWriter

MiB = 1 << 20
GiB = 1 << 30
DISKS = [{"key": 2000, "label": "Hard disk 1"}, {"key": 2001, "label": "Hard disk 2"}]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_percent_floors_and_an_empty_disk_is_complete():
    assert pg.percent(0, 100) == 0
    assert pg.percent(9997, 10000) == 99, "100 % only when every byte is there"
    assert pg.percent(10000, 10000) == 100
    assert pg.percent(0, 0) == 100


def test_rate_counts_only_what_this_run_copied():
    assert pg.rate_and_eta(0, 10 * MiB, 5.0) == (None, None), "no copy yet: no rate, no ETA"
    rate, eta = pg.rate_and_eta(50 * MiB, 100 * MiB, 5.0)
    assert rate == 10 * MiB
    assert eta == pytest.approx(10.0)
    assert pg.rate_and_eta(MiB, 0, 1.0)[1] == 0.0


def test_durations_and_units_read_like_the_issue_asks():
    assert pg.format_duration(200) == "3m20s"
    assert pg.format_duration(7) == "7s"
    assert pg.format_duration(3 * 3600 + 5 * 60 + 9) == "3h05m"
    assert pg.format_duration(None) == "?"
    disk = {"index": 1, "count": 2, "label": "Hard disk 1", "kind": "full", "state": "running",
            "bytes_done": int(12.3 * GiB), "bytes_total": 29 * GiB, "rate_bytes_per_s": 85e6, "eta_seconds": 200}
    assert pg.format_line("db01", disk) == "db01 disk 1/2 [Hard disk 1]: 42% 12.3 of 29.0 GiB, 85 MB/s, ETA 3m20s"
    disk.update(bytes_total=2 * 1024 * GiB, bytes_done=1024 * GiB)
    assert "50% 1.0 of 2.0 TiB" in pg.format_line("db01", disk)
    disk.update(bytes_total=24 * MiB, bytes_done=24 * MiB, state="done", elapsed_seconds=4.2)
    assert pg.format_line("db01", disk) == "db01 disk 1/2 [Hard disk 1]: 100% 24.0 of 24.0 MiB, 85 MB/s, done in 4s (full sync)"


def test_the_file_is_written_at_a_bounded_rate_and_lists_every_disk(tmp_path, monkeypatch):
    writes = []
    real = pg.replace_json
    monkeypatch.setattr(pg, "replace_json", lambda path, data: (writes.append(json.loads(json.dumps(data))),
                                                                real(path, data)))
    clock = Clock()
    path = str(tmp_path / "p" / "progress.json")
    sync = pg.SyncProgress(path, "db01", DISKS, token="t1", min_interval=0.5, clock=clock)
    assert writes == [], "nothing before the first disk starts"
    disk = sync.start(2000, "full", 100 * MiB)
    disk.update(10 * MiB)  # before the first read: 10 MiB were confirmed by an interrupted run
    for step in range(1, 901):  # 900 reads of 0.1 MiB in 9 s: one update per read, as the engine calls it
        clock.now += 0.01
        disk.update(10 * MiB + step * (MiB // 10))
    disk.update(100 * MiB, final=True)
    # one write at the start, then at most one per 0.5 s, and the final one
    assert len(writes) <= 1 + 1 + 9 / 0.5 + 1, len(writes)
    last = json.loads(open(path).read())
    assert last["token"] == "t1" and last["vm"] == "db01"
    assert [d["state"] for d in last["disks"]] == ["done", "waiting"]
    assert [d["label"] for d in last["disks"]] == ["Hard disk 1", "Hard disk 2"]
    first = last["disks"][0]
    assert first["bytes_done"] == first["bytes_total"] == 100 * MiB
    # the rate counts the 90 MiB copied in 9 s, not the 10 MiB resumed
    assert first["rate_bytes_per_s"] == pytest.approx(90 * MiB / 9.0, rel=0.01)
    # the disk being copied also at the top level, as the file held before it listed every disk
    assert last["state"] == "done" and last["bytes_done"] == last["bytes_total"] == 100 * MiB
    assert "password" not in open(path).read()
    assert not [p for p in (tmp_path / "p").iterdir() if p.name != "progress.json"], "no temporary file left"


def test_a_sync_without_a_path_writes_nothing(tmp_path):
    sync = pg.SyncProgress(None, "db01", DISKS)
    sync.start(2000, "full", MiB).update(MiB, final=True)
    assert list(tmp_path.iterdir()) == []


def _running(done, total=100 * MiB, key=2000, state="running", token="t1"):
    return {"vm": "db01", "token": token, "disks": [
        {"index": 1, "count": 2, "key": key, "label": "Hard disk 1", "kind": "full", "state": state,
         "bytes_done": done, "bytes_total": total, "rate_bytes_per_s": 1e6, "eta_seconds": 10},
        {"index": 2, "count": 2, "key": 2001, "label": "Hard disk 2", "kind": None, "state": "waiting",
         "bytes_done": 0, "bytes_total": 0, "rate_bytes_per_s": None, "eta_seconds": None}]}


def test_lines_are_bounded_per_disk_per_interval_whatever_the_poll_rate():
    clock = Clock()
    pacer = pg.LinePacer(30, token="t1", clock=clock)
    lines = []
    duration = 300.0
    polls = 0
    while clock.now < 1000.0 + duration:  # polled every 0.5 s, the file changing at every poll
        done = int((clock.now - 1000.0) / duration * 100 * MiB)
        lines += pacer.lines(_running(done))
        clock.now += 0.5
        polls += 1
    lines += pacer.lines(_running(100 * MiB, state="done"))
    lines += pacer.lines(_running(100 * MiB, state="done"))  # the final line only once
    assert polls == 600
    assert len(lines) <= 1 + duration / 30 + 1, lines
    assert len(lines) >= duration / 30
    assert lines[-1].endswith("(full sync)") and "100%" in lines[-1]
    assert all("Hard disk 1" in line for line in lines), "a waiting disk gets no line"


def test_percentages_never_go_backwards_and_earlier_runs_files_are_ignored():
    clock = Clock()
    pacer = pg.LinePacer(1, token="t2", clock=clock)
    assert pacer.lines(_running(90 * MiB, token="t1")) == [], "an earlier run's file"
    assert pacer.lines(None) == [] and pacer.lines({"disks": "x"}) == []
    assert "50%" in pacer.lines(_running(50 * MiB, token="t2"))[0]
    clock.now += 5
    assert pacer.lines(_running(40 * MiB, token="t2")) == [], "an older snapshot never shows"
    clock.now += 5
    assert "60%" in pacer.lines(_running(60 * MiB, token="t2"))[0]


def test_a_disk_that_finished_between_two_reads_still_gets_its_final_line():
    clock = Clock()
    pacer = pg.LinePacer(30, clock=clock)
    pacer.lines(_running(10 * MiB))
    clock.now += 1  # well inside the interval
    snapshot = _running(100 * MiB, state="done")
    snapshot["disks"][1].update(kind="incremental", state="running", bytes_total=MiB, bytes_done=0)
    lines = pacer.lines(snapshot)
    assert len(lines) == 2
    assert "disk 1/2" in lines[0] and "done in" in lines[0]
    assert "disk 2/2" in lines[1] and "0%" in lines[1]


def test_the_engine_reports_resumed_bytes_first_and_every_read_after(tmp_path):
    class Source:
        def read(self, offset, length):
            return b"\x01" * length

    seen = []

    class Recorder:
        def update(self, done, stats, final=False):
            seen.append((done, final))

    extents = [(0, 8 * MiB)]
    journal = SyncJournal.open(str(tmp_path / "j.json"), "vm", 2000, 8 * MiB, "raw:x")
    journal.begin("snap-1", "s", "cid", "*")
    journal.confirm([(0, 2 * MiB)])
    writer = RawFileWriter(str(tmp_path / "t.raw"), 8 * MiB)
    copy_extents(extents, Source(), writer, journal, CopySettings(streams=1, read_size=MiB), Recorder())
    writer.close()
    assert seen[0] == (2 * MiB, False), "the first update gives what the interrupted run confirmed"
    assert seen[-1] == (8 * MiB, True)
    assert [d for d, dummy in seen] == sorted(d for d, dummy in seen)
