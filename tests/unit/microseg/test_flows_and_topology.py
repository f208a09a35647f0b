"""Flow visibility (deltas and rates over a window of counter readings, counter resets) and the topology graph model.
The page itself, on counters from real traffic, is checked in headless Chromium by tests/lab/microseg."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.microseg import flows, topology
from ansible_collections.reforge.hci.plugins.module_utils.microseg.policy import parse_policy

CAMPUS = Path(__file__).with_name("fixtures") / "campus-4n30vm.json"
TIERS = ["tier1", "tier2", "intranet", "training"]


def c(packets, nbytes):
    return {"packets": packets, "bytes": nbytes}


def r(node, at, counters, boot="b1", handle=5):
    return dict(node=node, at=at, boot_id=boot, table_handle=handle, counters=counters)


def pair(window, src, dst):
    return next(p for p in window["pairs"] if (p["src"], p["dst"]) == (src, dst))


def test_deltas_and_rates_over_the_window_summed_over_the_nodes():
    w = flows.window(TIERS, [
        r("node1", 100, {"allow_tier2__tier1": c(10, 1000), "drop_training__tier1": c(1, 60)}),
        r("node1", 160, {"allow_tier2__tier1": c(130, 13000), "drop_training__tier1": c(7, 420)}),
        r("node2", 101, {"allow_tier2__tier1": c(0, 0), "drop_training__tier1": c(0, 0)}),
        r("node2", 161, {"allow_tier2__tier1": c(60, 6000), "drop_training__tier1": c(0, 0)}),
    ])
    assert w["seconds"] == 61.0 and w["complete"] and not w["resets"]
    p = pair(w, "tier2", "tier1")
    assert (p["allow_packets"], p["allow_bytes"]) == (180, 18000)
    assert p["allow_pps"] == round(180 / 61.0, 3) and p["allow_bps"] == round(18000 * 8 / 61.0, 3)
    d = pair(w, "training", "tier1")
    assert (d["drop_packets"], d["drop_bytes"]) == (6, 360)
    assert len(w["pairs"]) == 12  # every ordered pair of different tiers, also the silent ones
    assert pair(w, "tier1", "tier2")["allow_packets"] == 0


@pytest.mark.parametrize("second, reason", [
    # the counter went down: a table reload or a counter reset
    (r("node1", 160, {"allow_tier2__tier1": c(40, 4000)}), "counters went down"),
    # a reboot that counted more than before: after - before would be positive and wrong
    (r("node1", 160, {"allow_tier2__tier1": c(900, 90000)}, boot="b2"), "node rebooted"),
    # the table deleted and created again (a new handle), same
    (r("node1", 160, {"allow_tier2__tier1": c(900, 90000)}, handle=9), "table recreated (handle 5 -> 9)"),
])
def test_a_counter_reset_counts_from_the_reset_and_is_reported(second, reason):
    w = flows.window(TIERS, [r("node1", 100, {"allow_tier2__tier1": c(500, 50000)}), second])
    p = pair(w, "tier2", "tier1")
    assert p["allow_packets"] == second["counters"]["allow_tier2__tier1"]["packets"] >= 0
    assert p["allow_bytes"] == second["counters"]["allow_tier2__tier1"]["bytes"]
    assert not w["complete"] and len(w["resets"]) == 1 and reason in w["resets"][0]["reason"]


def test_with_more_readings_a_reset_loses_only_its_interval():
    w = flows.window(TIERS, [r("node1", 0, {"allow_tier2__tier1": c(100, 1000)}),
                             r("node1", 60, {"allow_tier2__tier1": c(700, 7000)}),
                             r("node1", 120, {"allow_tier2__tier1": c(50, 500)}, boot="b2"),   # rebooted in between
                             r("node1", 180, {"allow_tier2__tier1": c(250, 2500)}, boot="b2")])
    assert pair(w, "tier2", "tier1")["allow_packets"] == 600 + 50 + 200 and w["seconds"] == 180.0
    assert len(w["resets"]) == 1 and "node rebooted" in w["resets"][0]["reason"] and "00:02:00+00:00" in w["resets"][0]["reason"]


def test_a_reset_on_one_node_leaves_the_others_deltas_alone():
    w = flows.window(TIERS, [
        r("node1", 100, {"drop_tier1__tier2": c(50, 3000)}), r("node1", 200, {"drop_tier1__tier2": c(2, 120)}),
        r("node2", 100, {"drop_tier1__tier2": c(50, 3000)}), r("node2", 200, {"drop_tier1__tier2": c(70, 4200)}),
    ])
    assert pair(w, "tier1", "tier2")["drop_packets"] == 2 + 20
    assert [x["node"] for x in w["resets"]] == ["node1"]


def test_a_pair_added_counts_from_zero_and_a_pair_removed_is_listed():
    w = flows.window(TIERS, [r("node1", 0, {"allow_tier2__tier1": c(5, 500), "allow_training__tier1": c(9, 900)}),
                             r("node1", 10, {"allow_tier2__tier1": c(5, 500), "allow_intranet__tier1": c(3, 300)})])
    assert pair(w, "intranet", "tier1")["allow_packets"] == 3 and pair(w, "training", "tier1")["allow_packets"] == 0
    assert w["gone"] == ["allow_training__tier1 on node1"] and w["complete"]


@pytest.mark.parametrize("readings, message", [
    ([], "no counter readings"),
    ([r("node1", 0, {"x": c(1, 1)})], "node1 was read once"),
    ([r("node1", 5, {"x": c(1, 1)}), r("node1", 5, {"x": c(1, 1)})], "same time"),
])
def test_readings_that_make_no_window_are_refused(readings, message):
    with pytest.raises(flows.FlowError, match=message):
        flows.window(TIERS, readings)


def test_a_reading_from_nft_json():
    text = json.dumps({"nftables": [
        {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
        {"table": {"family": "bridge", "name": "reforge_microseg", "handle": 12}},
        {"counter": {"family": "bridge", "name": "allow_tier2__tier1", "table": "reforge_microseg", "handle": 4, "packets": 7,
                     "bytes": 588}}]})
    got = flows.reading("node1", text, "2026-12-03T10:00:00+00:00", boot_id="abc\n", table="reforge_microseg")
    assert got == dict(node="node1", at=1796292000.0, boot_id="abc", table_handle=12, counters={"allow_tier2__tier1": c(7, 588)})
    with pytest.raises(flows.FlowError, match="no counters"):
        flows.reading("node1", json.dumps({"nftables": [{"table": {"name": "reforge_microseg", "handle": 1}}]}), 0)
    with pytest.raises(flows.FlowError, match="not the JSON of nft"):
        flows.reading("node1", "{}", 0)


def campus():
    data = json.loads(CAMPUS.read_text())
    policy = parse_policy(data["tiers"], data["vms"], data["flows"]).as_dict()
    where = dict((v["name"], v["node"]) for v in data["vms"])
    for vm in policy["vms"]:
        vm["node"] = where[vm["name"]]
    return data, policy


def sample_window():
    return flows.window(TIERS, [r("node1", 0, {"allow_tier2__tier1": c(10, 1000), "drop_training__tier1": c(0, 0)}),
                                r("node1", 60, {"allow_tier2__tier1": c(2010, 301000), "drop_training__tier1": c(4, 240)})])


def test_the_graph_model_of_the_four_node_thirty_vm_campus():
    data, policy = campus()
    m = topology.model(data["campus"], policy, data["nodes"], data["networks"], data["osd_tree"], sample_window())
    assert [h["name"] for h in m["hosts"]] == ["node1", "node2", "node3", "node4"]
    # switches from LLDP, the octet port ids shown as text; node4's NICs have no neighbour: the unknown switch
    assert [s["name"] for s in m["switches"]] == ["tor-a.campus", "tor-b.campus", topology.UNKNOWN_SWITCH]
    node1 = m["hosts"][0]
    assert node1["nics"][0]["switch_port"] == "Ethernet1/2" and node1["nics"][0]["bond"] == "bond0"
    assert {link["switch"] for link in m["links"] if link["host"] == "node4"} == {topology.UNKNOWN_SWITCH}
    assert [b["name"] for b in node1["bonds"]] == ["bond0", "bond1"]
    assert [(a["network"], a["vlan"]) for a in node1["addresses"]] == [("mgmt", 10), ("storage", 20), ("vm", 30), ("migration", 40)]
    # OSDs per host from the osd tree, the down one kept with its status
    assert [o["name"] for o in m["hosts"][3]["osds"]] == ["osd.9", "osd.10", "osd.11"]
    assert [o["status"] for o in m["hosts"][3]["osds"]] == ["up", "down", "up"]
    assert sum(len(t["vms"]) for t in m["tiers"]) == 30 and [t["name"] for t in m["tiers"]] == TIERS
    # every allowed flow of the policy is drawn (with its volume, or as idle); denied only where something was dropped
    allowed = dict(((f["src"], f["dst"]), f) for f in m["allowed"])
    assert sorted(allowed) == [("intranet", "tier1"), ("intranet", "tier2"), ("tier2", "tier1")]
    assert allowed[("tier2", "tier1")]["packets"] == 2000 and allowed[("tier2", "tier1")]["services"] == ["tcp 8080", "udp 5140"]
    assert allowed[("intranet", "tier1")]["packets"] == 0  # allowed, idle in this window: drawn grey
    assert [(f["src"], f["dst"], f["packets"]) for f in m["denied"]] == [("training", "tier1", 4)]


def test_bad_inputs_of_the_model_are_refused():
    data, policy = campus()
    policy["vms"][0]["node"] = "node9"
    with pytest.raises(topology.TopologyError, match="runs on node9, which is not a node of campus"):
        topology.model(data["campus"], policy, data["nodes"])
    with pytest.raises(topology.TopologyError, match="ceph osd tree"):
        topology.model(data["campus"], campus()[1], data["nodes"], osd_tree={"osds": []})


def run(argv, data=None):
    proc = subprocess.run(argv, input=data, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_dot_source_is_deterministic_and_dot_draws_every_label():
    dot = shutil.which("dot") or pytest.fail("Graphviz is needed (Debian package graphviz, scripts/apt-packages.txt)")
    data, policy = campus()
    m = topology.model(data["campus"], policy, data["nodes"], data["networks"], data["osd_tree"], sample_window())
    text = topology.dot_source(m)
    assert text == topology.dot_source(topology.model(data["campus"], policy, data["nodes"], data["networks"], data["osd_tree"],
                                                      sample_window()))
    svg = topology.render_svg(text, run, dot=dot)
    assert svg.startswith("<svg")
    labels = set(html.unescape(t).strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    for name in ["node1", "node2", "node3", "node4", "tor-a.campus", topology.UNKNOWN_SWITCH, "osd.10 DOWN", "bond0", "VLAN 20"]:
        assert name in labels, name
    assert {v["name"] for v in data["vms"]} <= labels
    assert "2,000 pkts, 293.0 KiB" in labels and "training \u2192 tier1: 4 pkts, 240 B" in labels
    with pytest.raises(topology.DotError):
        topology.render_svg("digraph { a -> }", run, dot=dot)


def test_lldp_ids_are_shown_as_text_when_printable():
    assert topology.lldp_text("45:74:68:65:72:6E:65:74:31:2F:31:31") == "Ethernet1/11"
    assert topology.lldp_text("3C:FD:FE:B5:1A:00") == "3C:FD:FE:B5:1A:00"  # a MAC stays a MAC
    assert topology.lldp_text("Ethernet1/1") == "Ethernet1/1"


def test_a_bare_campus_draws_too():
    """What a first run knows: VMs with no node, nodes with no NIC facts, no networks, no OSD tree, no readings."""
    dot = shutil.which("dot") or pytest.fail("Graphviz is needed (Debian package graphviz, scripts/apt-packages.txt)")
    data, policy = campus()
    for vm in policy["vms"]:
        vm["node"] = None
    m = topology.model("bare", policy, [dict(name="n1"), dict(name="n2")])
    assert m["switches"] == [] and m["window"] is None and [h["osds"] for h in m["hosts"]] == [[], []]
    svg = topology.render_svg(topology.dot_source(m), run, dot=dot)
    page = topology.render_html(m, svg)
    assert "No counter readings: flows not shown" in page and "his-db-01" in html.unescape(svg)
