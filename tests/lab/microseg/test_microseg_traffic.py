"""Micro-segmentation with real traffic (issue 16, foundation): a "node" network namespace holds a Linux bridge,
five "VM" namespaces of four tiers hang on it by veth pairs, the generated nftables bridge-family table is applied
inside the node namespace (nothing touches the host's own tables), and every tier pair is probed with TCP, UDP and
ICMP. Then a policy change is applied while request/reply streams run, and the allowed stream must lose nothing.

Needs root and nft; no other lab component. Everything it creates is named rs<pid>* (the prefix from
$REFORGE_MICROSEG_NS_PREFIX if set, for labs that share a machine) and removed even on failure.
The last test reads the counters over a window around the probe matrix and draws the topology page of a 4-node,
30-VM campus with them (microseg_topology), checked in headless Chromium.
"""
from __future__ import annotations

import datetime
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import browser
from lab.module_run import run_module

from ansible_collections.reforge.hci.plugins.module_utils.microseg import evidence, flows
from ansible_collections.reforge.hci.plugins.module_utils.microseg.nft import Nft, converge
from ansible_collections.reforge.hci.plugins.module_utils.microseg.policy import parse_policy
from ansible_collections.reforge.hci.plugins.module_utils.microseg.ruleset import desired_state, pair_name

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nft (nftables)")]

AGENT = str(Path(__file__).with_name("agent.py"))
TAG = "%s%d" % (os.environ.get("REFORGE_MICROSEG_NS_PREFIX", "rs"), os.getpid() % 100000)
NODE = TAG + "n"
BRIDGE = "rseg%d" % (os.getpid() % 100000)
LOG_GROUP = 7
TCP_PORTS = [8080, 8443, 9000]
UDP_PORTS = [5140, 9000]

TIERS = [dict(name="tier1", description="HIS/EMR"), dict(name="tier2", description="ESB/integration"),
         dict(name="intranet", description="payment/nursing"), dict(name="training", description="training/office")]
VMS = [("his-db", "tier1"), ("his-app", "tier1"), ("esb", "tier2"), ("pay", "intranet"), ("office", "training")]
FLOWS = [{"from": "tier2", "to": "tier1", "proto": "tcp", "ports": [8080]},
         {"from": "tier2", "to": "tier1", "proto": "udp", "ports": [5140]},
         {"from": "intranet", "to": "tier2", "proto": "tcp", "ports": ["8443"]},
         {"from": "intranet", "to": "tier1", "proto": "icmp"}]
# Probes per VM pair: (proto, port)
PROBES = [("tcp", 8080), ("tcp", 8443), ("udp", 5140), ("icmp", None)]


def sh(*argv, check=True, data=None):
    proc = subprocess.run(list(argv), input=data, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s: rc=%s %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
    return proc


def run(argv, data=None):
    proc = subprocess.run(argv, input=data, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def vm_ns(i):
    return "%sv%d" % (TAG, i)


def tap(i):
    return "%st%d" % (TAG, i)


def mac(i):
    return "02:52:00:00:00:%02x" % (i + 1)


def ip(i):
    return "10.77.0.%d" % (10 + i)


def vm_list():
    return [dict(name=name, tier=tier, macs=[mac(i)], interfaces=[tap(i)]) for i, (name, tier) in enumerate(VMS)]


def cleanup():
    for i in range(len(VMS)):
        sh("ip", "netns", "del", vm_ns(i), check=False)
    sh("ip", "netns", "del", NODE, check=False)


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    work = tmp_path_factory.mktemp("microseg")
    procs = []
    cleanup()
    try:
        sh("ip", "netns", "add", NODE)
        sh("ip", "-n", NODE, "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "-n", NODE, "link", "set", BRIDGE, "up")
        for i, (name, _tier) in enumerate(VMS):
            ns = vm_ns(i)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", NODE, "link", "add", tap(i), "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", NODE, "link", "set", tap(i), "master", BRIDGE, "up")
            sh("ip", "-n", ns, "link", "set", "eth0", "address", mac(i))
            sh("ip", "-n", ns, "addr", "add", ip(i) + "/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, AGENT, "listen", name,
                                     ",".join(map(str, TCP_PORTS)), ",".join(map(str, UDP_PORTS))],
                                    stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            assert proc.stdout.readline().strip() == "ready", name
        log = subprocess.Popen(["ip", "netns", "exec", NODE, sys.executable, AGENT, "nflog", str(LOG_GROUP)],
                               stdout=subprocess.PIPE, text=True)
        procs.append(log)
        assert log.stdout.readline().strip() == "ready"
        yield dict(work=work, nft=Nft(run, netns=NODE), log=log)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        cleanup()


def read_log(log, wanted):
    """Log lines of the node's nflog reader until every prefix in ``wanted`` is seen (an event, no sleep)."""
    seen = {}
    missing = set(wanted)
    while missing:
        line = log.stdout.readline()
        assert line, "the nflog reader ended before logging %s" % sorted(missing)
        prefix = json.loads(line)["prefix"]
        seen[prefix] = seen.get(prefix, 0) + 1
        missing.discard(prefix)
    return seen


def probe_all(policy, probes_by_src):
    """Run each source VM's probes at once (one process per VM, in parallel); return the flat result list."""
    procs = {}
    for i, probes in probes_by_src.items():
        procs[i] = subprocess.Popen(["ip", "netns", "exec", vm_ns(i), sys.executable, AGENT, "probe", json.dumps(probes)],
                                    stdout=subprocess.PIPE, text=True)
    out = []
    for i, proc in procs.items():
        stdout = proc.communicate()[0]
        assert proc.returncode == 0
        out.extend(json.loads(stdout))
    return out


def matrix(policy):
    by_src = {}
    n = 0
    for i, (src_name, src_tier) in enumerate(VMS):
        for j, (dst_name, dst_tier) in enumerate(VMS):
            if i == j:
                continue
            for proto, port in PROBES:
                n += 1
                by_src.setdefault(i, []).append(dict(
                    id=n, src_vm=src_name, src_tier=src_tier, dst_vm=dst_name, dst_tier=dst_tier, proto=proto, port=port,
                    dst=ip(j), expected="allow" if policy.allowed(src_tier, dst_tier, proto, port) else "deny"))
    # The stateless reply rule must not open a connection: tier1 may answer tier2 from port 8080, but a SYN
    # from port 8080 to a tier2 VM is a new connection and stays denied.
    n += 1
    by_src[0].append(dict(id=n, src_vm="his-db", src_tier="tier1", dst_vm="esb", dst_tier="tier2", proto="tcp",
                          port=9000, sport=8080, dst=ip(2), expected="deny"))
    return by_src


def utc():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def test_probe_matrix_counters_logs_and_evidence(topology):
    nft = topology["nft"]
    policy = parse_policy(TIERS, vm_list(), FLOWS)
    desired = desired_state(policy, log_group=LOG_GROUP)
    first = converge(nft, desired)
    assert first["changed"] and first["plan"]["create_table"]
    assert converge(nft, desired)["changed"] is False, "a rerun with the same policy must change nothing"

    started = utc()
    before = nft.counters(desired.table)
    results = probe_all(policy, matrix(policy))
    after = nft.counters(desired.table)
    finished = utc()

    wrong = [r for r in results if (r["expected"] == "allow") != r["passed"]]
    assert not wrong, "probes not as the policy says: %s" % json.dumps(wrong, indent=1)
    assert sum(r["expected"] == "allow" for r in results) >= 10 and sum(r["expected"] == "deny" for r in results) >= 40

    denied_pairs = {}
    allowed_pairs = {}
    for r in results:
        if r["src_tier"] == r["dst_tier"]:
            continue
        key = pair_name(r["src_tier"], r["dst_tier"])
        (allowed_pairs if r["expected"] == "allow" else denied_pairs)[key] = \
            (allowed_pairs if r["expected"] == "allow" else denied_pairs).get(key, 0) + 1
    for key in set(denied_pairs) | set(allowed_pairs):
        dropped = after["drop_" + key]["packets"] - before["drop_" + key]["packets"]
        allowed = after["allow_" + key]["packets"] - before["allow_" + key]["packets"]
        # each denied probe sends at least one packet that the pair's rule drops; none is counted elsewhere
        assert dropped >= denied_pairs.get(key, 0), (key, dropped, denied_pairs.get(key))
        if key in allowed_pairs:
            assert allowed >= 2 * allowed_pairs[key], (key, allowed)  # request and reply, both on the flow's counter
        else:
            assert allowed == 0, (key, allowed)
    intra = after["intra_tier1"]["packets"] - before["intra_tier1"]["packets"]
    assert intra > 0
    assert after["spoofed"]["packets"] == before["spoofed"]["packets"]

    # every tier pair that dropped something logged it with its own prefix (rate limited, so at least once)
    logged = read_log(topology["log"], ["microseg drop %s>%s: " % tuple(k.split("__")) for k in denied_pairs])
    for prefix, count in logged.items():
        src, dst = prefix[len("microseg drop "):-2].split(">")
        assert count <= after["drop_" + pair_name(src, dst)]["packets"]

    doc = evidence.build(policy, "lab", "netns " + NODE + " bridge " + BRIDGE, nft.read_table(desired.table)["text"],
                         [dict((k, r[k]) for k in ("src_vm", "src_tier", "dst_vm", "dst_tier", "proto", "port", "expected", "passed"))
                          for r in results], before, after, started, finished)
    assert doc["verdict"] == "PASS"
    out = Path(os.environ.get("REFORGE_MICROSEG_EVIDENCE_DIR") or topology["work"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "segmentation-evidence.json").write_text(json.dumps(doc, indent=1))
    page = out / "segmentation-evidence.html"
    page.write_text(evidence.render_html(doc))
    png = out / "segmentation-evidence.png"
    if shutil.which("chromium"):
        sh("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,900",
           "--screenshot=%s" % png, page.as_uri())
        assert png.stat().st_size > 10000
    assert "Verdict: PASS" in page.read_text()


def test_spoofed_source_mac_is_dropped(topology):
    """A VM that sends with another tier's MAC from its own interface is dropped by the port binding."""
    nft = topology["nft"]
    policy = parse_policy(TIERS, vm_list(), FLOWS)
    desired = desired_state(policy, log_group=LOG_GROUP)
    converge(nft, desired)
    before = nft.counters(desired.table)["spoofed"]["packets"]
    office = VMS.index(("office", "training"))
    sh("ip", "-n", vm_ns(office), "link", "set", "eth0", "address", mac(2))  # esb's MAC: tier2 may reach tier1:8080
    try:
        result = probe_all(policy, {office: [dict(id=1, proto="tcp", port=8080, dst=ip(1))]})[0]
    finally:
        sh("ip", "-n", vm_ns(office), "link", "set", "eth0", "address", mac(office))
    assert not result["passed"]
    assert nft.counters(desired.table)["spoofed"]["packets"] > before


def test_policy_change_mid_stream_without_a_gap(topology):
    nft = topology["nft"]
    policy = parse_policy(TIERS, vm_list(), FLOWS)
    desired = desired_state(policy, log_group=LOG_GROUP)
    converge(nft, desired)
    stop = topology["work"] / "stop-stream"
    if stop.exists():
        stop.unlink()
    esb, his_app, office, pay = 2, 1, 4, 3
    allowed = subprocess.Popen(["ip", "netns", "exec", vm_ns(esb), sys.executable, AGENT, "stream", ip(his_app), "5140",
                                str(stop), "pass"], stdout=subprocess.PIPE, text=True)
    denied = subprocess.Popen(["ip", "netns", "exec", vm_ns(office), sys.executable, AGENT, "stream", ip(his_app), "5140",
                               str(stop), "drop"], stdout=subprocess.PIPE, text=True)
    try:
        for stream in (allowed, denied):
            assert "progress" in json.loads(stream.stdout.readline())  # both streams run before the change
        # the change: training may now reach intranet on tcp 8443, and tier2 gets tcp 9000 to tier1
        changed = parse_policy(TIERS, vm_list(), FLOWS + [{"from": "training", "to": "intranet", "proto": "tcp", "ports": [8443]},
                                                          {"from": "tier2", "to": "tier1", "proto": "tcp", "ports": [9000]}])
        new = desired_state(changed, log_group=LOG_GROUP)
        dry = converge(nft, new, check_mode=True)
        assert dry["changed"] and "pair_training__intranet" in dry["plan"]["rewritten_chains"]
        assert "tcp dport { 8443 }" in dry["diff"]["after"] and dry["diff"]["before"] != dry["diff"]["after"]
        assert converge(nft, desired)["changed"] is False, "check mode wrote something"
        drops_before = nft.counters(new.table)
        result = converge(nft, new)
        # only what changed: the chains of the pairs whose flows changed, no set, no counter re-created
        assert sorted(result["plan"]["rewritten_chains"]) == ["pair_intranet__training", "pair_tier1__tier2",
                                                              "pair_tier2__tier1", "pair_training__intranet"]
        assert not result["plan"]["new_counters"] and not result["plan"]["elements_added"]
        counters = nft.counters(new.table)
        assert counters["drop_tier2__tier1"]["packets"] >= drops_before["drop_tier2__tier1"]["packets"]  # counters survive
        for stream in (allowed, denied):
            assert "progress" in json.loads(stream.stdout.readline())  # both streams run after the change
        after = probe_all(changed, {office: [dict(id=1, proto="tcp", port=8443, dst=ip(pay))],
                                    esb: [dict(id=2, proto="tcp", port=9000, dst=ip(his_app))]})
        assert all(r["passed"] for r in after), after
        assert converge(nft, new)["changed"] is False
    finally:
        stop.write_text("stop")
        outs = [json.loads(s.communicate()[0].strip().splitlines()[-1]) for s in (allowed, denied)]
    print("streams across the change: allowed %s, denied %s" % (outs[0], outs[1]))
    assert outs[0]["sent"] >= 100 and outs[0]["answered"] == outs[0]["sent"], outs[0]  # no allowed request lost
    assert outs[1]["sent"] >= 100 and outs[1]["answered"] == 0, outs[1]  # the denied flow never passed


def test_removing_a_tier_applies_in_one_transaction_and_keeps_the_other_counters(topology):
    nft = topology["nft"]
    full = desired_state(parse_policy(TIERS, vm_list(), FLOWS), log_group=LOG_GROUP)
    converge(nft, full)
    kept = nft.counters(full.table)["drop_tier1__tier2"]["packets"]
    office = VMS.index(("office", "training"))
    smaller = desired_state(parse_policy(TIERS[:3], [v for v in vm_list() if v["tier"] != "training"], FLOWS), log_group=LOG_GROUP)
    result = converge(nft, smaller)
    assert "tier_training" in result["plan"]["removed_sets"] and "from_training" in result["plan"]["removed_chains"]
    assert nft.counters(full.table)["drop_tier1__tier2"]["packets"] == kept
    # office's MAC is in no tier now: its frames are outside the segmentation (counted), not a tier pair's
    res = probe_all(None, {office: [dict(id=1, proto="tcp", port=8443, dst=ip(3))]})
    assert res[0]["passed"]
    assert converge(nft, smaller)["changed"] is False
    assert converge(nft, full)["changed"] is True and converge(nft, full)["changed"] is False


def test_the_boot_file_loads_on_an_empty_node_and_replaces_a_stale_table(topology):
    """What roles/microseg writes for boot: loads where the table is missing, and replaces an old one at once."""
    nft = topology["nft"]
    old = desired_state(parse_policy(TIERS, vm_list(), FLOWS), log_group=LOG_GROUP)
    converge(nft, old)
    new = desired_state(parse_policy(TIERS[:3], [v for v in vm_list() if v["tier"] != "training"], FLOWS[:1]), log_group=LOG_GROUP)
    nft.apply(new.boot_script())
    assert converge(nft, new)["changed"] is False
    sh("ip", "netns", "exec", NODE, "nft", "delete", "table", "bridge", new.table)
    nft.apply(new.boot_script())
    assert converge(nft, new)["changed"] is False


def test_unlisted_drop_cuts_off_a_vm_missing_from_the_policy(topology):
    """unlisted=drop: a VM left out of the policy can neither reach nor be reached; broadcasts (ARP) still pass."""
    nft = topology["nft"]
    office, pay, esb, his_app = 4, 3, 2, 1
    policy = parse_policy(TIERS[:3], [v for v in vm_list() if v["tier"] != "training"], FLOWS)
    desired = desired_state(policy, log_group=LOG_GROUP, unlisted="drop")
    converge(nft, desired)
    for i in range(len(VMS)):  # cold neighbour caches: the allowed probe needs ARP through the table
        sh("ip", "-n", vm_ns(i), "neigh", "flush", "all")
    before = nft.counters(desired.table)
    res = probe_all(policy, {office: [dict(id=1, proto="tcp", port=8443, dst=ip(pay))],
                             pay: [dict(id=2, proto="tcp", port=8080, dst=ip(office))],
                             esb: [dict(id=3, proto="tcp", port=8080, dst=ip(his_app))]})
    by_id = dict((r["id"], r) for r in res)
    assert not by_id[1]["passed"] and not by_id[2]["passed"], res
    assert by_id[3]["passed"], res
    after = nft.counters(desired.table)
    assert after["unlisted"]["packets"] - before["unlisted"]["packets"] >= 2
    assert after["outside"]["packets"] > before["outside"]["packets"]  # the ARP broadcasts
    read_log(topology["log"], ["microseg drop unlisted: "])
    back = desired_state(parse_policy(TIERS, vm_list(), FLOWS), log_group=LOG_GROUP)
    result = converge(nft, back)
    assert result["plan"]["removed_counters"] == ["unlisted"] and "forward" in result["plan"]["rewritten_chains"]


CAMPUS = Path(__file__).resolve().parents[2] / "unit" / "microseg" / "fixtures" / "campus-4n30vm.json"


def counter_reading(node):
    """What roles/microseg reads on a node for the flow window: the table as nft -j lists it, the time, the boot id."""
    return dict(node=node, at=time.time(), boot_id=Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                nft=sh("ip", "netns", "exec", NODE, "nft", "-j", "list", "table", "bridge", "reforge_microseg").stdout)


def parsed(r):
    return flows.reading(r["node"], r["nft"], r["at"], r["boot_id"], "reforge_microseg")


def test_flow_window_a_table_reload_and_the_topology_page(topology, tmp_path):
    """Per tier pair, what passed and what was dropped between two real readings agrees with the probes; a table
    loaded again (a new handle, counters from zero) between two readings is reported as a reset, never negative;
    the page of a 4-node, 30-VM campus drawn with the real window shows every node, tier, flow volume and drop."""
    nft = topology["nft"]
    policy = parse_policy(TIERS, vm_list(), FLOWS)
    desired = desired_state(policy, log_group=LOG_GROUP)
    converge(nft, desired)
    tiers = [t["name"] for t in TIERS]
    first = counter_reading("node1")
    results = probe_all(policy, matrix(policy))
    second = counter_reading("node1")
    window = flows.window(tiers, [parsed(first), parsed(second)])
    assert window["complete"] and not window["resets"]
    expected = {}
    for r in results:
        if r["src_tier"] != r["dst_tier"]:
            key = (r["src_tier"], r["dst_tier"])
            expected.setdefault(key, {"allow": 0, "deny": 0})[r["expected"]] += 1
    for p in window["pairs"]:
        want = expected.get((p["src"], p["dst"]), {"allow": 0, "deny": 0})
        assert p["drop_packets"] >= want["deny"], p
        assert (p["drop_packets"] > 0) == (want["deny"] > 0), p
        if want["allow"]:
            assert p["allow_packets"] >= 2 * want["allow"] and p["allow_bytes"] > 0 and p["allow_pps"] > 0, p
        else:
            assert p["allow_packets"] == 0, p
    assert next(w for w in window["within"] if w["tier"] == "tier1")["packets"] > 0

    # A table loaded again (the boot file: delete and create in one transaction) starts its counters from zero.
    nft.apply(desired.boot_script())
    esb, his_app, office = 2, 1, 4
    again = probe_all(policy, {esb: [dict(id=1, proto="tcp", port=8080, dst=ip(his_app))],
                               office: [dict(id=2, proto="tcp", port=8080, dst=ip(his_app))]})
    assert [r["passed"] for r in sorted(again, key=lambda r: r["id"])] == [True, False]
    third = counter_reading("node1")
    reset = flows.window(tiers, [parsed(second), parsed(third)])
    assert not reset["complete"] and "table recreated" in reset["resets"][0]["reason"], reset["resets"]
    now = parsed(third)["counters"]
    for p in reset["pairs"]:
        for kind in ("allow", "drop"):
            assert p[kind + "_packets"] == now["%s_%s" % (kind, pair_name(p["src"], p["dst"]))]["packets"] >= 0
    t21 = next(p for p in reset["pairs"] if (p["src"], p["dst"]) == ("tier2", "tier1"))
    assert 2 <= t21["allow_packets"] < next(p for p in window["pairs"] if (p["src"], p["dst"]) == ("tier2", "tier1"))["allow_packets"]

    # The page: the 4-node, 30-VM campus with the first window (the namespace node's counters drawn as node1's).
    campus = json.loads(CAMPUS.read_text())
    assert parse_policy(campus["tiers"], campus["vms"], campus["flows"]).as_dict()["flows"] == policy.as_dict()["flows"]
    out = Path(os.environ.get("REFORGE_MICROSEG_EVIDENCE_DIR") or topology["work"])
    out.mkdir(parents=True, exist_ok=True)
    page = out / ("%s-topology.html" % campus["campus"])
    for stale in (page, out / ("%s-flows.json" % campus["campus"])):
        if stale.exists():
            stale.unlink()
    args = dict(campus=campus["campus"], dest=str(out), tiers=campus["tiers"], vms=campus["vms"], flows=campus["flows"],
                nodes=campus["nodes"], networks=campus["networks"], osd_tree=campus["osd_tree"], readings=[first, second])
    dry = run_module("microseg_topology", args, check=True)
    assert dry["changed"] is True and not dry.get("failed"), dry
    assert not page.exists(), "check mode wrote the page"
    done = run_module("microseg_topology", args)
    assert done["changed"] is True and page.exists()
    assert done["window"]["pairs"] == window["pairs"]
    assert run_module("microseg_topology", args)["changed"] is False, "the same inputs must give the same page"

    dom = browser.dump_dom(page, tmp_path / "chrome")
    assert re.search(r"<svg[^>]*>", dom), "no SVG in the page"
    texts = set(html.unescape(t).strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", dom))
    for name in ["node1", "node2", "node3", "node4", "tor-a.campus", "tor-b.campus", "unknown switch", "osd.10 DOWN"]:
        assert name in texts, name
    for tier in TIERS:
        assert tier["name"] in texts, tier["name"]
    assert {v["name"] for v in campus["vms"]} <= texts
    for src, dst in expected:
        p = next(x for x in window["pairs"] if (x["src"], x["dst"]) == (src, dst))
        if expected[(src, dst)]["allow"]:
            edge = re.search(r'<g id="flow_%s__%s" class="edge flow allowed">(.*?)</g>' % (src, dst), dom, re.S)
            assert edge and "{:,} pkts".format(p["allow_packets"]) in html.unescape(edge.group(1)), (src, dst)
        if expected[(src, dst)]["deny"]:
            # the drops of a pair, on the dashed edge between the two tiers (both directions on one edge)
            edges = [html.unescape(e) for e in re.findall(r'<g id="drop_(?:%s__%s|%s__%s)" class="edge flow denied">(.*?)</g>'
                                                          % (src, dst, dst, src), dom, re.S)]
            assert len(edges) == 1, "denied pair %s>%s not drawn once: %d" % (src, dst, len(edges))
            assert "%s \u2192 %s: %s pkts" % (src, dst, "{:,}".format(p["drop_packets"])) in edges[0], edges[0]
            assert 'stroke-dasharray' in edges[0], "denied traffic is drawn dashed"
    assert "Flows from %s to %s" % (window["start"], window["end"]) in dom
    png = out / ("%s-topology.png" % campus["campus"])
    browser.screenshot(page, png, tmp_path / "chrome", size="1600,1000")
