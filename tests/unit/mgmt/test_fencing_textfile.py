"""roles/mgmt_register/files/reforge-fencing-textfile: Pacemaker's fencing history as a textfile metric.
Run against stand-ins of crm_node and stonith_admin on PATH that print what Pacemaker 2.1/3.0 prints
(`stonith_admin --history '*' --output-as xml`: fence_event elements, status success/failed/pending).
The cluster lane runs it on the lab nodes against the real Pacemaker, and its alert fires on a real fencing."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "mgmt_register" / "files" / "reforge-fencing-textfile"

HISTORY = """<pacemaker-result api-version="2.30" request="stonith_admin --history * --output-as xml">
  <fence_history>
    <fence_event action="reboot" target="node2" client="pacemaker-controld.1210" origin="node1" status="success"
                 delegate="node3" completed="2026-12-03 21:02:11.123456 +00:00"/>
    <fence_event action="reboot" target="node2" client="stonith_admin.77" origin="node1" status="failed"
                 exit-reason="timed out" completed="2026-12-03 20:58:00 +00:00"/>
    <fence_event action="off" target="node3" client="pacemaker-controld.1210" origin="node1" status="pending"
                 extended-status="1"/>
    <fence_event action="reboot" target="node2" client="pacemaker-controld.1210" origin="node4" status="success"
                 delegate="node1" completed="2026-12-03 21:40:00 +00:00"/>
  </fence_history>
  <status code="0" message="OK"/>
</pacemaker-result>
"""


def _bin(tmp_path: Path, name: str, body: str) -> None:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def _run(tmp_path: Path):
    out = tmp_path / "prom" / "reforge_fencing.prom"
    out.parent.mkdir(exist_ok=True)
    env = dict(os.environ, PATH="%s:%s" % (tmp_path / "bin", os.environ["PATH"]))
    proc = subprocess.run([sys.executable, str(SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=30,
                          check=False)
    return proc, out.read_text() if out.exists() else None, sorted(p.name for p in out.parent.iterdir())


def test_successful_fencings_are_counted_per_target_and_every_member_has_a_series(tmp_path):
    _bin(tmp_path, "crm_node", "printf '1 node1 member\\n2 node2 lost\\n3 node3 member\\n4 node4 member\\n'\n")
    _bin(tmp_path, "stonith_admin", "cat <<'X'\n%sX\n" % HISTORY)
    proc, text, files = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    series = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert series == ['reforge_pacemaker_fencing_events_total{target="node1"} 0',
                      'reforge_pacemaker_fencing_events_total{target="node2"} 2',
                      'reforge_pacemaker_fencing_events_total{target="node3"} 0',
                      'reforge_pacemaker_fencing_events_total{target="node4"} 0',
                      "reforge_pacemaker_fencing_history_ok 1"]
    assert "# TYPE reforge_pacemaker_fencing_events_total counter" in text
    assert files == ["reforge_fencing.prom"], "written beside and renamed: no temp file left"


def test_a_history_that_cannot_be_read_is_not_zero_fencings(tmp_path):
    _bin(tmp_path, "crm_node", "printf '1 node1 member\\n'\n")
    _bin(tmp_path, "stonith_admin", "echo 'Could not connect to fencer: Transport endpoint is not connected' >&2; exit 102\n")
    proc, text, _files = _run(tmp_path)
    assert proc.returncode == 1 and "fencing history not read" in proc.stderr
    assert "reforge_pacemaker_fencing_events_total" not in text
    assert "reforge_pacemaker_fencing_history_ok 0" in text
