"""The burn-in's pure parts: job files, fio's histogram buckets, percentiles, CV, judging, ratios, refusals."""
from __future__ import annotations

import json

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.burnin import fio, judge, run

SPEC = {"name": "r", "engine": "rbd", "target": {"pool": "vms", "rbdname": "burnin"}, "runtime": 60, "log_avg_msec": 1000}


def test_default_mix_is_4k_random_and_64k_1m_sequential_with_rbd_parameters():
    files = {j["name"]: fio.jobfile(SPEC, j) for j in fio.DEFAULT_JOBS}
    assert set(files) == {"rand-4k", "seq-64k", "seq-1m"}
    assert "rw=randrw\nbs=4k" in files["rand-4k"] and "bs=64k" in files["seq-64k"] and "bs=1m" in files["seq-1m"]
    for text in files.values():
        assert "ioengine=rbd\n" in text and "pool=vms\n" in text and "rbdname=burnin\n" in text and "clientname=admin\n" in text
        assert "log_unix_epoch=1" in text and "time_based=1" in text
    cmd = fio.command(SPEC, fio.DEFAULT_JOBS[0], "/x")
    assert "--output-format=json+" in cmd and "--log_avg_msec=1000" in cmd
    assert {"--write_bw_log=/x/rand-4k", "--write_iops_log=/x/rand-4k", "--write_lat_log=/x/rand-4k"} <= set(cmd)


def test_histogram_buckets_follow_fios_formula():
    # Values fio's own stat.c gives (and prints as json+ bin keys): exact below 128, then the middle of each bucket.
    assert [fio.plat_idx_to_val(i) for i in (0, 1, 127)] == [0, 1, 127]
    assert fio.plat_idx_to_val(128) == 129.0 and fio.plat_idx_to_val(191) == 255.0 and fio.plat_idx_to_val(192) == 258.0
    # (the lab test checks every decoded bucket against the bin values fio itself writes in json+)


def test_percentiles_and_cv():
    counts = [0] * 200
    counts[10], counts[100], counts[150] = 98, 1, 1   # 100 samples
    pct = fio.percentiles(counts)
    assert pct[50.0] == 10 and pct[99.0] == 100 and pct[99.9] == fio.plat_idx_to_val(150)
    assert fio.percentiles([0] * 10)[50.0] is None
    assert fio.cv([10, 10, 10]) == 0 and round(fio.cv([5, 15]), 3) == 0.5 and fio.cv([3]) is None


def _job(iops=1000.0, p99=2.0, cv=0.1):
    return {"name": "rand-4k", "directions": {"read": {"summary": {"iops": iops, "bw_mib": 4.0, "p99_ms": p99, "iops_cv": cv}}}}


def test_judge_and_compare():
    checks = judge.judge([_job()], {"all": {"max_iops_cv": 0.2}, "rand-4k": {"min_iops": 1200, "max_p99_ms": 5}})
    assert {(c["key"], c["ok"]) for c in checks} == {("max_iops_cv", True), ("min_iops", False), ("max_p99_ms", True)}
    missing = judge.judge([_job(p99=None)], {"all": {"max_p99_ms": 5}})
    assert missing[0]["ok"] is False   # a measurement that is missing fails, it does not pass silently
    rows = judge.compare([_job(iops=1400.0, p99=2.0)], {"rand-4k": {"iops": 1000, "p99_ms": 3}})
    assert {(r["metric"], r["ratio"]) for r in rows} == {("iops", 1.4), ("p99_ms", 1.5)}


def refused(**change) -> str:
    spec = dict(SPEC, **change)
    with pytest.raises(fio.Refusal) as exc:
        run.check(spec)
    return str(exc.value)


@pytest.mark.refusal(area="burn-in", field="burnin_thresholds", message="burn-in threshold rand-4k.max_iops_cv '-1' must be a positive number",
                     fix="give a coefficient of variation above 0, e.g. 0.2 for ±20 %")
def test_bad_threshold_value(proves_refusal):
    proves_refusal(refused(thresholds={"rand-4k": {"max_iops_cv": -1}}))


@pytest.mark.refusal(area="burn-in", field="burnin_thresholds", message="burn-in threshold all.min_latency is unknown",
                     fix="use min_iops, min_bw_mib, max_p50_ms, max_p99_ms, max_p999_ms, max_iops_cv, max_bw_cv or max_p99_cv")
def test_unknown_threshold(proves_refusal):
    proves_refusal(refused(thresholds={"all": {"min_latency": 3}}))


@pytest.mark.refusal(area="burn-in", field="burnin_thresholds", message="burn-in thresholds name job 'rand-8k', which is not in the job mix",
                     fix="name a job of burnin_jobs, or 'all'")
def test_thresholds_for_a_job_not_in_the_mix(proves_refusal):
    proves_refusal(refused(thresholds={"rand-8k": {"min_iops": 3}}))


@pytest.mark.refusal(area="burn-in", field="burnin_inject.at_seconds", message="must fall inside the job's runtime (0 to 60 s)",
                     fix="inject the failure while the job runs: 0 <= at_seconds < burnin_runtime")
def test_injection_outside_the_run(proves_refusal):
    proves_refusal(refused(inject={"command": "true", "at_seconds": 90}))


def _burnin(field, message, fix):
    return pytest.mark.refusal(area="burn-in", field=field, message=message, fix=fix)


@pytest.mark.parametrize("change", [
    pytest.param(dict(target={"rbdname": "x"}), marks=_burnin(
        "burnin_target", "the rbd engine needs target.pool (the cluster pool and a test image in it)",
        "give the pool and the test image (rbdname) for the rbd engine")),
    pytest.param(dict(engine="libaio", target={}), marks=_burnin(
        "burnin_target", "the libaio engine needs target.filename (a file or device to test)",
        "give target.filename: a scratch file, or a disk that holds nothing")),
    pytest.param(dict(engine="nbd"), marks=_burnin(
        "burnin_engine", "burn-in engine 'nbd' is not one of rbd, libaio, psync", "rbd, libaio or psync")),
    pytest.param(dict(runtime=0), marks=_burnin(
        "burnin_runtime", "burn-in runtime '0' must be a whole number of seconds per job, at least 1",
        "seconds per job, e.g. 600")),
    pytest.param(dict(jobs=[{"name": "a", "rw": "random", "bs": "4k"}]), marks=_burnin(
        "burnin_jobs[].rw", "burn-in job a: rw 'random' is not one of read, write, randread, randwrite, rw, readwrite, randrw",
        "one of fio's rw modes the message lists")),
    pytest.param(dict(jobs=[{"name": "a", "rw": "read", "bs": "4 KiB"}]), marks=_burnin(
        "burnin_jobs[].bs", "burn-in job a: bs '4 KiB' is not a block size such as 4k or 1m", "write it as fio does: 4k, 64k, 1m")),
    pytest.param(dict(jobs=[{"name": "Rand 4k", "rw": "randread", "bs": "4k"}]), marks=_burnin(
        "burnin_jobs[].name", "burn-in job name 'Rand 4k' is not a job name: lower-case letters, digits, '-' and '_'",
        "lower-case letters, digits, '-' and '_' (the name is a file name and a report label)")),
    pytest.param(dict(jobs=[{"name": "a", "rw": "read", "bs": "4k"}, {"name": "a", "rw": "write", "bs": "4k"}]),
                 marks=_burnin("burnin_jobs[].name", "burn-in job name 'a' is used twice; each job of the mix needs its own name",
                               "give each job its own name")),
    pytest.param(dict(baseline={"rand-4k": {"iops": "fast"}}), marks=_burnin(
        "burnin_baseline", "burn-in baseline rand-4k.iops 'fast' must be a positive number",
        "the measured number from an earlier report")),
    pytest.param(dict(baseline={"rand-8k": {"iops": 1000}}), marks=_burnin(
        "burnin_baseline", "burn-in baseline names job 'rand-8k', which is not in the job mix",
        "name a job of burnin_jobs")),
    pytest.param(dict(baseline={"rand-4k": {"speed": 1000}}), marks=_burnin(
        "burnin_baseline", "burn-in baseline rand-4k.speed is unknown (known: ", "use a metric name the message lists")),
    pytest.param(dict(inject={"at_seconds": 10}), marks=_burnin(
        "burnin_inject.command", "burn-in inject needs a command (e.g. 'systemctl stop ceph-osd@3')",
        "give the command that causes the failure")),
    pytest.param(dict(inject={"command": "true", "job": "rand-8k"}), marks=_burnin(
        "burnin_inject.job", "burn-in inject.job 'rand-8k' is not in the job mix", "name a job of burnin_jobs")),
])
def test_other_bad_specs_are_refused(change, proves_refusal):
    proves_refusal(refused(**change))


def test_interval_logs_are_joined_by_position_not_by_timestamp(tmp_path):
    # fio stamps the bw, iops and histogram rows of one interval a few ms apart (seen on a loaded machine).
    (tmp_path / "j.json").write_text(json.dumps({"jobs": [{"error": 0, "job options": {}, "read": {
        "total_ios": 10, "iops": 5.0, "bw": 20, "clat_ns": {"percentile": {"50.000000": 1000, "99.000000": 2000, "99.900000": 3000}}},
        "write": {"total_ios": 0}}]}))
    (tmp_path / "j_iops.1.log").write_text("1000, 5, 0, 0, 0\n2000, 5, 0, 0, 0\n")
    (tmp_path / "j_bw.1.log").write_text("999, 20, 0, 0, 0\n2001, 21, 0, 0, 0\n")
    bins = ["0"] * 1856
    bins[100] = "5"
    (tmp_path / "j_clat_hist.1.log").write_text("1003, 0, 4096, %s\n2004, 0, 4096, %s\n" % (", ".join(bins), ", ".join(bins)))
    job = fio.parse_job(str(tmp_path), "j")
    points = job["directions"]["read"]["intervals"]
    assert [(p["t_ms"], p["iops"], p["bw_kib"], p["p50_us"]) for p in points] == [(1000, 5.0, 20.0, 0.1), (2000, 5.0, 21.0, 0.1)]
    assert job["directions"]["read"]["summary"]["iops_cv"] is None or job["directions"]["read"]["summary"]["iops_cv"] == 0
    assert "write" not in job["directions"]
