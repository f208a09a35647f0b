"""Compliance evidence of a campus (evidence.build_campus, module microseg_evidence's core): the rules in force on
every node, the counters of the window summed over the nodes (a reset reported), the probe matrix and the verdict.
The cluster lane builds it from the lab's four nodes with a real probe matrix (tests/integration/cluster)."""
from __future__ import annotations

import json

from ansible_collections.reforge.hci.plugins.module_utils.microseg import evidence, flows
from ansible_collections.reforge.hci.plugins.module_utils.microseg.policy import parse_policy

TIERS = [{"name": "app", "description": "application"}, {"name": "db", "description": "databases"},
         {"name": "training", "description": "training/office"}]
VMS = [{"name": "web1", "tier": "app", "macs": ["52:54:00:00:00:01"]}, {"name": "pg1", "tier": "db", "macs": ["52:54:00:00:00:02"]},
       {"name": "pc1", "tier": "training", "macs": ["52:54:00:00:00:03"]}]
FLOWS = [{"from": "app", "to": "db", "proto": "tcp", "ports": [5432]}]


def output(boot, at, handle, counters):
    objs = [{"table": {"family": "bridge", "name": "reforge_microseg", "handle": handle}}]
    objs += [{"counter": {"family": "bridge", "table": "reforge_microseg", "name": n, "packets": p, "bytes": b}}
             for n, (p, b) in counters.items()]
    return "%s\n%s\n%s" % (boot, at, json.dumps({"nftables": objs}))


def campus_window(reset=False):
    policy = parse_policy(TIERS, VMS, FLOWS)
    readings = [
        flows.reading_from_output("node1", output("b1", 100, 3, {"allow_app__db": (10, 1000), "drop_app__training": (0, 0)})),
        flows.reading_from_output("node1", output("b1", 110, 3, {"allow_app__db": (30, 3000), "drop_app__training": (4, 240)})),
        flows.reading_from_output("node2", output("b2", 101, 7, {"allow_app__db": (50, 5000), "drop_app__training": (9, 540)})),
        flows.reading_from_output("node2", output("b3" if reset else "b2", 111, 7,
                                                  {"allow_app__db": (5, 500), "drop_app__training": (11, 660)})),
    ]
    return policy, flows.window(policy.tier_names(), readings)


RULES = [{"node": "node2", "rules_in_force": "table bridge reforge_microseg { ... node2 ... }"},
         {"node": "node1", "rules_in_force": "table bridge reforge_microseg { ... node1 ... }"}]


def probe(src, dst, proto, port, expected, passed):
    return dict(src_vm=src + "-probe", src_tier=src, dst_vm=dst + "-probe", dst_tier=dst, proto=proto, port=port,
                expected=expected, passed=passed)


def test_campus_evidence_sums_the_nodes_and_keeps_every_nodes_rules():
    policy, window = campus_window()
    doc = evidence.build_campus(policy, "north", RULES, [probe("app", "db", "tcp", 5432, "allow", True),
                                                         probe("app", "training", "tcp", 5432, "deny", False)], window)
    assert doc["verdict"] == "PASS" and doc["nodes"] == ["node1", "node2"]
    pairs = {(p["src"], p["dst"]): p for p in doc["tier_pairs"]}
    assert len(pairs) == 6
    # node1 counted 20; node2's counter went down (50 -> 5): a reset, so what it counted since (5) is added
    assert pairs[("app", "db")]["allowed_packets"] == 20 + 5 and pairs[("app", "db")]["flows"] == [
        {"from": "app", "to": "db", "proto": "tcp", "ports": ["5432"]}]
    assert pairs[("app", "training")]["dropped_packets"] == 4 + 2
    assert doc["counter_resets"] and doc["counter_resets"][0]["node"] == "node2"
    page = evidence.render_html(doc)
    assert "Verdict: PASS" in page and "<h3>node1</h3>" in page and "<h3>node2</h3>" in page
    assert "Counters restarted on node2" in page and "lower bounds" in page


def test_a_probe_not_as_the_policy_says_fails_and_no_probes_is_incomplete():
    policy, window = campus_window()
    bad = evidence.build_campus(policy, "north", RULES, [probe("app", "training", "tcp", 22, "deny", True)], window)
    assert bad["verdict"] == "FAIL" and bad["summary"]["not_as_expected"] == 1
    assert "NOT AS EXPECTED" in evidence.render_html(bad)
    none = evidence.build_campus(policy, "north", RULES, [], window)
    assert none["verdict"] == "INCOMPLETE"
    assert "shown, not tested" in evidence.render_html(none)


def test_a_reboot_between_the_readings_is_reported():
    policy, window = campus_window(reset=True)
    doc = evidence.build_campus(policy, "north", RULES, [], window)
    assert "rebooted" in doc["counter_resets"][0]["reason"]
