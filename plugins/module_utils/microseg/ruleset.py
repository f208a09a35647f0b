# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nftables bridge-family ruleset generated from a :class:`~.policy.Policy`, and the plan that brings a
table from what the kernel has to what the policy wants. Pure: no command is run here.

Layout of the one table (``table bridge reforge_microseg``)::

    set tier_<t>        ether_addr            MACs of the VMs of tier t (updated element by element)
    set bound_ifaces    ifname                interfaces bound to a VM (anti-spoofing), if any
    set bound_ports     ifname . ether_addr   which MACs may enter on which interface
    counter allow_<a>__<b> / drop_<a>__<b>    packets and bytes of flows a->b allowed (with their replies) / dropped
    counter intra_<t>, spoofed, outside       within tier t; wrong MAC on a bound interface; not VM-to-VM
    counter unlisted                          unicast from or to a MAC in no tier, dropped (``unlisted="drop"``)
    chain forward       base chain (bridge forward hook): anti-spoof, then one jump per source tier
    chain from_<a>      one rule per destination tier: within the tier accept, else jump pair_<a>__<b>
    chain pair_<a>__<b> the allowed flows a->b, the replies of the allowed flows b->a (stateless), ARP and
                        IPv6 neighbour discovery; then a rate-limited log and the counted drop

Stateless because the bridge family has no connection tracking on a kernel without
``nf_conntrack_bridge`` (the lab's): a reply of an allowed TCP flow b:port -> a is allowed by its source
port and only when it is not a connection opening (SYN without ACK); a UDP reply by its source port; an
ICMP echo reply when echo requests are allowed the other way.

The first rule of every chain carries a comment ``sha256:<hash of the chain's rules>``, so a later run
compares hashes and rewrites only the chains whose rules changed (a flush and refill in the same
transaction). Named counters and sets are objects of the table: they survive every change that does not
remove their tier pair, so the counters keep counting across policy changes.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import hashlib

TABLE = "reforge_microseg"
BASE_CHAIN = "forward"
LOG_PREFIX = "microseg drop"
ND_TYPES = "{ nd-neighbor-solicit, nd-neighbor-advert }"


def pair_name(src, dst):
    return "%s__%s" % (src, dst)


def chain_hash(rules):
    return "sha256:" + hashlib.sha256("\n".join(rules).encode("utf-8")).hexdigest()[:16]


def _ports(flow):
    return "{ %s }" % ", ".join(flow.port_strings())


class Desired(object):
    """What the table must hold: sets (name -> (type, elements)), counters, chains (name -> rules, in order)."""

    def __init__(self, table, sets, counters, chains, base_chain, priority):
        self.table = table
        self.sets = sets
        self.counters = counters
        self.chains = chains
        self.base_chain = base_chain
        self.priority = priority

    def chain_comment(self, name):
        return chain_hash(self.chains[name])

    def stamped(self, name):
        """The chain's rules, the first one carrying the chain's hash as its comment."""
        rules = list(self.chains[name])
        rules[0] = '%s comment "%s"' % (rules[0], self.chain_comment(name))
        return rules

    def render(self):
        """The whole table as ``nft -f`` text (what a first apply loads in one transaction)."""
        lines = ["table bridge %s {" % self.table]
        for name in sorted(self.sets):
            kind, elements = self.sets[name]
            body = "type %s;" % kind
            if elements:
                body += " elements = { %s }" % ", ".join(_element(kind, e) for e in elements)
            lines.append("\tset %s { %s }" % (name, body))
        for name in sorted(self.counters):
            lines.append("\tcounter %s { }" % name)
        for name in self.chain_order():
            lines.append("\tchain %s {" % name)
            if name == self.base_chain:
                lines.append("\t\ttype filter hook forward priority %d; policy accept;" % self.priority)
            for rule in self.stamped(name):
                lines.append("\t\t" + rule)
            lines.append("\t}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def boot_script(self):
        """The file a node loads at boot: the whole table replaced in one transaction (on a node that already
        has it, too - the declaration makes the delete valid; the delete drops the counters)."""
        return "table bridge %s\ndelete table bridge %s\n%s" % (self.table, self.table, self.render())

    def chain_order(self):
        """Chains a jump points to come before the chain that jumps (pair, from, forward)."""
        rank = {"pair": 0, "from": 1}
        return sorted(self.chains, key=lambda n: (rank.get(n.split("_", 1)[0], 2), n))


def _element(kind, element):
    if kind == "ifname . ether_addr":
        iface, mac = element
        return '"%s" . %s' % (iface, mac)
    if kind == "ifname":
        return '"%s"' % element
    return element


UNLISTED = ("accept", "drop")


def desired_state(policy, table=TABLE, log_group=None, log_rate="10/second", priority=0, unlisted="accept"):
    """Build the :class:`Desired` table for ``policy``.

    ``unlisted``: what happens to a unicast frame from or to a MAC that is in no tier (a gateway, a VM missing from
    the policy). ``accept`` counts it on ``outside``; ``drop`` logs it (prefix ``microseg drop unlisted``) and drops
    it on ``unlisted``, so a VM left out of the policy is cut off rather than unsegmented. Broadcast and multicast
    frames (ARP requests, IPv6 neighbour discovery, DHCP) pass either way, counted on ``outside``.
    """
    if unlisted not in UNLISTED:
        raise ValueError("unlisted must be one of %s, got %r" % (", ".join(UNLISTED), unlisted))
    tiers = policy.tier_names()
    sets = {}
    for tier in tiers:
        sets["tier_" + tier] = ("ether_addr", policy.macs_of(tier))
    bound = sorted((iface, mac) for vm in policy.vms for iface in vm.interfaces for mac in vm.macs)
    counters = set(["spoofed", "outside"])
    chains = {}
    forward = []
    if bound:
        sets["bound_ifaces"] = ("ifname", sorted(set(i for i, _m in bound)))
        sets["bound_ports"] = ("ifname . ether_addr", bound)
        forward.append("iifname @bound_ifaces iifname . ether saddr != @bound_ports counter name spoofed drop")
    for src in tiers:
        forward.append("ether saddr @tier_%s jump from_%s" % (src, src))
        counters.add("intra_" + src)
        rules = []
        for dst in tiers:
            if dst == src:
                rules.append("ether daddr @tier_%s counter name intra_%s accept" % (src, src))
            else:
                rules.append("ether daddr @tier_%s jump pair_%s" % (dst, pair_name(src, dst)))
                chains["pair_" + pair_name(src, dst)] = _pair_rules(policy, src, dst, log_group, log_rate)
                counters.add("allow_" + pair_name(src, dst))
                counters.add("drop_" + pair_name(src, dst))
        chains["from_" + src] = rules
    if unlisted == "accept":
        forward.append("counter name outside accept")
    else:
        counters.add("unlisted")
        forward.append("ether daddr & 01:00:00:00:00:00 == 01:00:00:00:00:00 counter name outside accept")
        log = 'limit rate %s log prefix "%s unlisted: "' % (log_rate, LOG_PREFIX)
        if log_group is not None:
            log += " group %d" % int(log_group)
        forward.append(log)
        forward.append("counter name unlisted drop")
    chains[BASE_CHAIN] = forward
    return Desired(table, sets, counters, chains, BASE_CHAIN, priority)


def _pair_rules(policy, src, dst, log_group, log_rate):
    """Rules of chain pair_<src>__<dst>: frames from a VM of src to a VM of dst."""
    forward_counter = "allow_" + pair_name(src, dst)
    reply_counter = "allow_" + pair_name(dst, src)  # pylint: disable=arguments-out-of-order
    rules = ["ether type arp accept", "icmpv6 type %s accept" % ND_TYPES]
    for flow in policy.flows_between(src, dst):
        if flow.proto == "icmp":
            rules.append("meta l4proto { icmp, ipv6-icmp } counter name %s accept" % forward_counter)
        else:
            rules.append("%s dport %s counter name %s accept" % (flow.proto, _ports(flow), forward_counter))
    for flow in policy.flows_between(dst, src):  # replies of the flows dst -> src, stateless
        if flow.proto == "tcp":
            rules.append("tcp sport %s tcp flags & (syn | ack) != syn counter name %s accept" % (_ports(flow), reply_counter))
        elif flow.proto == "udp":
            rules.append("udp sport %s counter name %s accept" % (_ports(flow), reply_counter))
        else:
            rules.append("icmp type echo-reply counter name %s accept" % reply_counter)
            rules.append("icmpv6 type echo-reply counter name %s accept" % reply_counter)
    log = 'limit rate %s log prefix "%s %s>%s: "' % (log_rate, LOG_PREFIX, src, dst)
    if log_group is not None:
        log += " group %d" % int(log_group)
    rules.append(log)
    rules.append("counter name drop_%s drop" % pair_name(src, dst))
    return rules


class Plan(object):
    """The changes from the kernel's table to the desired one, and the ``nft -f`` script doing them at once."""

    def __init__(self):
        self.create_table = False
        self.new_sets = []
        self.new_counters = []
        self.new_chains = []
        self.rewritten_chains = []
        self.elements_added = {}
        self.elements_removed = {}
        self.removed_chains = []
        self.removed_sets = []
        self.removed_counters = []
        self.script = ""

    @property
    def changed(self):
        return bool(self.create_table or self.new_sets or self.new_counters or self.new_chains or self.rewritten_chains
                    or self.elements_added or self.elements_removed or self.removed_chains or self.removed_sets
                    or self.removed_counters)

    def summary(self):
        return dict(create_table=self.create_table, new_sets=self.new_sets, new_counters=self.new_counters,
                    new_chains=self.new_chains, rewritten_chains=self.rewritten_chains,
                    elements_added=dict((k, [_show(v) for v in vals]) for k, vals in self.elements_added.items()),
                    elements_removed=dict((k, [_show(v) for v in vals]) for k, vals in self.elements_removed.items()),
                    removed_chains=self.removed_chains, removed_sets=self.removed_sets,
                    removed_counters=self.removed_counters)


def _show(element):
    return " . ".join(element) if isinstance(element, tuple) else element


def plan(desired, current):
    """Plan the change from ``current`` (see :func:`~.nft.read_table`; None when the table is absent).

    ``current``: dict(sets={name: (type, [elements])}, counters={name: {...}}, chains={name: first rule's comment}).
    The script is one transaction: new objects first, then set elements, then the rewritten chains
    (flush and refill, the chains jumped to before the chains jumping), then what the policy no longer
    has, after nothing refers to it any more.
    """
    out = Plan()
    table = "bridge " + desired.table
    if current is None:
        out.create_table = True
        out.new_sets = sorted(desired.sets)
        out.new_counters = sorted(desired.counters)
        out.new_chains = desired.chain_order()
        out.script = desired.render()
        return out
    lines = []
    for name in sorted(desired.sets):
        if name not in current["sets"]:
            out.new_sets.append(name)
            kind, elements = desired.sets[name]
            body = "type %s;" % kind
            if elements:
                body += " elements = { %s }" % ", ".join(_element(kind, e) for e in elements)
            lines.append("add set %s %s { %s }" % (table, name, body))
            continue
        kind, elements = desired.sets[name]
        have = set(current["sets"][name][1])
        want = set(elements)
        added = sorted(want - have)
        removed = sorted(have - want)
        if added:
            out.elements_added[name] = added
            lines.append("add element %s %s { %s }" % (table, name, ", ".join(_element(kind, e) for e in added)))
        if removed:
            out.elements_removed[name] = removed
            lines.append("delete element %s %s { %s }" % (table, name, ", ".join(_element(kind, e) for e in removed)))
    for name in sorted(desired.counters):
        if name not in current["counters"]:
            out.new_counters.append(name)
            lines.append("add counter %s %s" % (table, name))
    for name in desired.chain_order():
        comment = desired.chain_comment(name)
        hook = ""
        if name == desired.base_chain:
            hook = " type filter hook forward priority %d; policy accept;" % desired.priority
        if name not in current["chains"]:
            out.new_chains.append(name)
        elif current["chains"][name] == comment:
            continue
        else:
            out.rewritten_chains.append(name)
        # Flush and refill in the same transaction: a packet sees the old rules or the new ones,
        # never an empty chain.
        if name in current["chains"]:
            lines.append("flush chain %s %s" % (table, name))
        else:
            lines.append("add chain %s %s {%s }" % (table, name, hook))
        for rule in desired.stamped(name):
            lines.append("add rule %s %s %s" % (table, name, rule))
    for name in sorted(set(current["chains"]) - set(desired.chains)):
        out.removed_chains.append(name)
        lines.append("flush chain %s %s" % (table, name))
    for name in sorted(set(current["chains"]) - set(desired.chains)):
        lines.append("delete chain %s %s" % (table, name))
    for name in sorted(set(current["sets"]) - set(desired.sets)):
        out.removed_sets.append(name)
        lines.append("delete set %s %s" % (table, name))
    for name in sorted(set(current["counters"]) - set(desired.counters)):
        out.removed_counters.append(name)
        lines.append("delete counter %s %s" % (table, name))
    out.script = "\n".join(lines) + "\n" if lines else ""
    return out
