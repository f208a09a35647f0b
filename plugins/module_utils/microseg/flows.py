# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flow visibility: per tier pair, packets and bytes allowed and dropped over a window, from the named
counters of the segmentation table (``allow_<a>__<b>``, ``drop_<a>__<b>``, ``intra_<t>``) read twice.

A reading is one node's counters at one time: ``dict(node, at, boot_id, table_handle, counters)``, made by
:func:`reading` from ``nft -j list table bridge <table>`` output (or :func:`reading_from_output` from what the
role prints on the node: the boot id, the time, then that output). A window is two readings per node; the
deltas of the nodes are summed per tier pair (every node filters the frames its own bridges forward, so
the nodes' counters count different frames).

Counter resets. Kernel counters only grow, until the node reboots or the table is deleted and created
again (a boot file loaded over it, a manual ``nft delete table``). Then a counter starts again from zero,
and ``after - before`` is negative, or, when more was counted since the reset than before it, positive
and wrong. A reset is recognised by either sign: the kernel's boot id changed, the table's handle changed
(a recreated table gets a new one), or any counter went down. The delta of a reset counter is its value
after the reset (what was counted since the reset: what was counted between the first reading and the
reset is lost, so the number is a lower bound), and the window says so (``resets``, per node and reason).
A counter that did not exist at the first reading (a tier pair added by a policy change) counts from
zero; one gone at the second reading (a tier pair removed) is not counted and is listed as ``gone``.
Pure: no command is run here.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import json

from .ruleset import pair_name

KINDS = ("allow", "drop")


class FlowError(ValueError):
    """Readings that cannot make a window (no counters, time running backwards, a node read once)."""


def _epoch(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        stamp = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise FlowError("reading time %r is neither epoch seconds nor ISO 8601" % (value,))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(microsecond=0).isoformat()


def reading(node, nft_json, at, boot_id=None, table=None):
    """One node's reading from the text (or parsed dict) of ``nft -j list table bridge <table>``."""
    data = json.loads(nft_json) if isinstance(nft_json, str) else nft_json
    if not isinstance(data, dict) or "nftables" not in data:
        raise FlowError("node %s: not the JSON of nft -j (no 'nftables' key)" % node)
    handle, counters = None, {}
    for obj in data["nftables"]:
        if "table" in obj and (table is None or obj["table"].get("name") == table):
            handle = obj["table"].get("handle")
        elif "counter" in obj and (table is None or obj["counter"].get("table") == table):
            c = obj["counter"]
            counters[c["name"]] = dict(packets=int(c.get("packets", 0)), bytes=int(c.get("bytes", 0)))
    if not counters:
        raise FlowError("node %s: the segmentation table has no counters (is the table there?)" % node)
    return dict(node=node, at=_epoch(at), boot_id=(boot_id or "").strip() or None, table_handle=handle, counters=counters)


def reading_from_output(node, output, table=None):
    """A reading from what roles/microseg prints on a node: the boot id, the time (epoch seconds), then the
    JSON of ``nft -j list table bridge <table>``."""
    lines = (output or "").splitlines()
    if len(lines) < 3:
        raise FlowError("node %s: a counter reading is the boot id, the time and nft's JSON; got %r" % (node, (output or "")[:200]))
    try:
        at = float(lines[1])
    except ValueError:
        raise FlowError("node %s: the reading's time %r is not epoch seconds" % (node, lines[1]))
    return reading(node, "\n".join(lines[2:]), at, boot_id=lines[0], table=table)


def _reset_reason(first, second):
    if first.get("boot_id") and second.get("boot_id") and first["boot_id"] != second["boot_id"]:
        return "node rebooted (boot id changed)"
    if first.get("table_handle") is not None and second.get("table_handle") is not None and \
            first["table_handle"] != second["table_handle"]:
        return "table recreated (handle %s -> %s)" % (first["table_handle"], second["table_handle"])
    return None


def counter_delta(before, after, reset=False):
    """(delta, how) of one counter value: ``how`` is None, 'reset' or 'new'. Never negative."""
    if before is None:
        return after, "new"
    if reset or after < before:
        return after, "reset"
    return after - before, None


def _interval(first, second, totals):
    """Add the deltas from one reading to the next to ``totals``; return the reasons of a reset (empty: none)."""
    reason = _reset_reason(first, second)
    went_down = []
    for name, after in sorted(second["counters"].items()):
        before = first["counters"].get(name)
        down = before is not None and (after["packets"] < before["packets"] or after["bytes"] < before["bytes"])
        if down:
            went_down.append(name)
        for field in ("packets", "bytes"):
            delta, _how = counter_delta(None if before is None else before[field], after[field], reset=bool(reason) or down)
            totals.setdefault(name, dict(packets=0, bytes=0))[field] += delta
    if went_down and not reason:
        reason = "counters went down (%s): counters reset" % ", ".join(sorted(went_down)[:4])
    if reason:
        return ["%s between %s and %s" % (reason, iso(first["at"]), iso(second["at"]))]
    return []


def window(tiers, readings):
    """Per tier pair (every ordered pair of different tiers) and per tier (within), what passed and what was
    dropped between the first and the last reading of each node, summed over the nodes, with rates per second.
    ``readings``: list of :func:`reading` dicts, two or more per node; with more than two, each interval is taken on
    its own, so a counter reset loses at most what was counted in the interval it falls in."""
    by_node = {}
    for r in readings:
        by_node.setdefault(r["node"], []).append(r)
    if not by_node:
        raise FlowError("no counter readings: a window needs two readings per node")
    nodes, resets, gone = [], [], []
    totals = {}
    starts, ends = [], []
    for node in sorted(by_node):
        rs = sorted(by_node[node], key=lambda r: r["at"])
        if len(rs) < 2:
            raise FlowError("node %s was read once: a window needs two readings per node" % node)
        first, last = rs[0], rs[-1]
        starts.append(first["at"])
        ends.append(last["at"])
        # consecutive readings, each interval on its own: a reset loses at most the interval it falls in
        reasons = []
        for before_r, after_r in zip(rs, rs[1:]):
            if after_r["at"] <= before_r["at"]:
                raise FlowError("node %s: two readings have the same time" % node)
            reasons.extend(_interval(before_r, after_r, totals))
        gone.extend("%s on %s" % (name, node) for name in sorted(set(first["counters"]) - set(last["counters"])))
        reason = "; ".join(reasons) or None
        if reason:
            resets.append(dict(node=node, reason=reason))
        nodes.append(dict(node=node, start=iso(first["at"]), end=iso(last["at"]), seconds=round(last["at"] - first["at"], 3),
                          readings=len(rs), reset=reason))
    start, end = min(starts), max(ends)
    seconds = end - start

    def rate(value):
        return round(value / seconds, 3) if seconds > 0 else None

    pairs = []
    for src in tiers:
        for dst in tiers:
            if src == dst:
                continue
            name = pair_name(src, dst)
            entry = dict(src=src, dst=dst)
            for kind in KINDS:
                c = totals.get("%s_%s" % (kind, name), dict(packets=0, bytes=0))
                entry.update({"%s_packets" % kind: c["packets"], "%s_bytes" % kind: c["bytes"],
                              "%s_pps" % kind: rate(c["packets"]), "%s_bps" % kind: rate(c["bytes"] * 8)})
            pairs.append(entry)
    within = []
    for tier in tiers:
        c = totals.get("intra_" + tier, dict(packets=0, bytes=0))
        within.append(dict(tier=tier, packets=c["packets"], bytes=c["bytes"], pps=rate(c["packets"]), bps=rate(c["bytes"] * 8)))
    return dict(start=iso(start), end=iso(end), seconds=round(seconds, 3), nodes=nodes, resets=resets, gone=gone,
                pairs=pairs, within=within,
                complete=not resets)
