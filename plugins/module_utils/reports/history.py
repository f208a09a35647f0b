# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reports that keep their history: dated runs, an append-only history, human units.

Reports are audit evidence. Every run gets an id from its UTC start time (``20261203T165210Z``)
that names its own dated files, and the history of a report is a list of runs to which a run is
appended, never rewritten. The roles write the history with ``ansible.builtin.copy``, which
replaces the file atomically (a temporary file renamed over it): a run killed while writing leaves
the previous history whole.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
from typing import Any, Dict, List, Optional

HISTORY_FORMAT = 1


class HistoryError(ValueError):
    """A history file that is not one: never overwritten, the run fails instead."""


def iso(epoch: Optional[float]) -> Optional[str]:
    """ISO 8601 with its offset (UTC), seconds precision: ``2026-12-03T16:52:10+00:00``."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(float(epoch), datetime.timezone.utc).replace(microsecond=0).isoformat()


def epoch(text: Optional[str]) -> Optional[float]:
    """Seconds since the epoch of an ISO 8601 time; a time without an offset is UTC."""
    if not text:
        return None
    stamp = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def run_id(started: Any) -> str:
    """File-name-safe UTC stamp of a run's start (ISO text or epoch): ``20261203T165210Z``."""
    seconds = started if isinstance(started, (int, float)) else epoch(started)
    if seconds is None:
        raise HistoryError("a run needs its start time for its id")
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def human_bytes(value: Any, digits: int = 1) -> str:
    """Binary units as a change board reads them: ``7.0 MiB``; ``-`` when unknown."""
    if value is None or value == "":
        return "-"
    number = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(number) < 1024 or unit == "TiB":
            if unit == "B":
                return "%d B" % number
            return "%.*f %s" % (digits, number, unit)
        number /= 1024.0
    return "%.*f PiB" % (digits, number)  # pragma: no cover - the loop returns at TiB


def exact_bytes(value: Any) -> str:
    """The exact figure for a title attribute: ``7,340,032 bytes``."""
    if value is None or value == "":
        return "unknown"
    return "{:,} bytes".format(int(value))


def human_seconds(value: Any) -> str:
    if value is None or value == "":
        return "-"
    seconds = float(value)
    if seconds < 60:
        return "%.1f s" % seconds
    if seconds < 3600:
        return "%d min %02d s" % (seconds // 60, seconds % 60)
    return "%d h %02d min" % (seconds // 3600, (seconds % 3600) // 60)


def load(document: Any, subject: str) -> Dict[str, Any]:
    """A history as read from its file (parsed JSON, or None/'' when there is none yet)."""
    if document in (None, ""):
        return {"format": HISTORY_FORMAT, "subject": subject, "runs": []}
    if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
        raise HistoryError("the history of %s is not a history (no 'runs' list); it is left as it is" % subject)
    if document.get("subject", subject) != subject:
        raise HistoryError("the history file holds %r, not %r" % (document.get("subject"), subject))
    return document


def append(document: Any, subject: str, run: Dict[str, Any]) -> Dict[str, Any]:
    """The history with ``run`` appended; a run id already there is refused (nothing is overwritten)."""
    history = load(document, subject)
    if not run.get("run_id"):
        raise HistoryError("a run needs a run_id")
    if any(r.get("run_id") == run["run_id"] for r in history["runs"]):
        raise HistoryError("run %s of %s is in the history already" % (run["run_id"], subject))
    runs: List[Dict[str, Any]] = list(history["runs"]) + [run]
    return {"format": HISTORY_FORMAT, "subject": subject, "runs": runs}
