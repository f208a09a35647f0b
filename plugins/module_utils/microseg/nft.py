# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``nft`` side: read the table the kernel has, apply a plan as one transaction, read the counters.

``run(argv, data=None) -> (rc, stdout, stderr)`` is given by the caller (AnsibleModule.run_command in the
module, subprocess in the tests), so this layer has no Ansible in it. Every failure raises
:class:`NftError`; nothing here returns an error as data.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import re

from .ruleset import plan as make_plan


class NftError(Exception):
    def __init__(self, argv, rc, stderr):
        self.argv = argv
        self.rc = rc
        self.stderr = stderr
        super(NftError, self).__init__("%s failed (rc=%s): %s" % (" ".join(argv), rc, (stderr or "").strip()))


class Nft(object):
    def __init__(self, run, netns=None, nft="nft"):
        self._run = run
        self._prefix = (["ip", "netns", "exec", netns] if netns else []) + [nft]

    def _nft(self, args, data=None):
        argv = self._prefix + list(args)
        rc, out, err = self._run(argv, data)
        if rc != 0:
            raise NftError(argv, rc, err or out)
        return out

    def _json(self, args):
        out = self._nft(["-j"] + list(args))
        try:
            return json.loads(out).get("nftables", [])
        except ValueError:
            raise NftError(self._prefix + ["-j"] + list(args), 0, "not JSON: %r" % out[:200])

    def has_table(self, table):
        return any("table" in o and o["table"]["name"] == table for o in self._json(["list", "tables", "bridge"]))

    def read_table(self, table):
        """dict(sets, counters, chains, text) of ``table bridge <table>``, or None when it does not exist."""
        if not self.has_table(table):
            return None
        objects = self._json(["list", "table", "bridge", table])
        sets, counters, chains = {}, {}, {}
        for obj in objects:
            if "set" in obj:
                s = obj["set"]
                kind = " . ".join(s["type"]) if isinstance(s["type"], list) else s["type"]
                elements = []
                for e in s.get("elem", []):
                    if isinstance(e, dict) and "concat" in e:
                        elements.append(tuple(e["concat"]))
                    elif isinstance(e, dict) and "elem" in e:
                        elements.append(e["elem"]["val"])
                    else:
                        elements.append(e)
                sets[s["name"]] = (kind, elements)
            elif "counter" in obj:
                c = obj["counter"]
                counters[c["name"]] = dict(packets=c["packets"], bytes=c["bytes"])
            elif "chain" in obj:
                chains.setdefault(obj["chain"]["name"], None)
            elif "rule" in obj:
                r = obj["rule"]
                if chains.get(r["chain"]) is None:
                    chains[r["chain"]] = r.get("comment", "")
        text = self._nft(["list", "table", "bridge", table])
        return dict(sets=sets, counters=counters, chains=chains, text=text)

    def counters(self, table):
        current = self.read_table(table)
        return current["counters"] if current else {}

    def check(self, script):
        """``nft --check -f -``: the kernel validates the transaction and applies nothing."""
        if script:
            self._nft(["--check", "-f", "-"], script)

    def apply(self, script):
        """One ``nft -f`` is one netlink transaction: all of it is in force, or none of it."""
        if script:
            self._nft(["-f", "-"], script)


def chain_rules_from_listing(text):
    """{chain: [rule lines]} from ``nft list table`` text (nft's own spelling of the rules in force)."""
    out = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^\tchain (\S+) \{$", line)
        if match:
            current = match.group(1)
            out[current] = []
        elif current and line == "\t}":
            current = None
        elif current and line.startswith("\t\t") and not line.strip().startswith("type filter hook"):
            out[current].append(line.strip())
    return out


def canonical(desired_or_current, desired=None):
    """Object-per-line text of a table for a diff: sets and their elements, counters, chains and rules.

    For the kernel's table (a dict from :meth:`Nft.read_table`), a chain whose hash equals the desired
    chain's shows the desired rules (they are the same rules); any other shows nft's listing of it.
    """
    lines = []
    if desired_or_current is None:
        return ""
    if isinstance(desired_or_current, dict):
        cur = desired_or_current
        listing = chain_rules_from_listing(cur.get("text", ""))
        sets = cur["sets"]
        counters = sorted(cur["counters"])
        chains = {}
        for name, comment in cur["chains"].items():
            if desired is not None and name in desired.chains and comment == desired.chain_comment(name):
                chains[name] = desired.stamped(name)
            else:
                chains[name] = listing.get(name, [])
        order = desired.chain_order() if desired is not None else []
        order = [n for n in order if n in chains] + sorted(n for n in chains if n not in order)
    else:
        d = desired_or_current
        sets, counters = d.sets, sorted(d.counters)
        chains = dict((n, d.stamped(n)) for n in d.chains)
        order = d.chain_order()
    for name in sorted(sets):
        kind, elements = sets[name]
        lines.append("set %s (%s)" % (name, kind))
        for element in sorted(elements):
            lines.append("    element %s" % (" . ".join(element) if isinstance(element, tuple) else element))
    for name in counters:
        lines.append("counter %s" % name)
    for name in order:
        lines.append("chain %s" % name)
        for rule in chains[name]:
            lines.append("    " + rule)
    return "\n".join(lines) + "\n"


def converge(nft, desired, check_mode=False):
    """Bring the kernel's table to ``desired``. Returns dict(changed, plan, diff, script).

    Check mode validates the script with ``nft --check`` and writes nothing. After a real apply the
    table is read back and planned again: anything left to do is a failure, never a silent success.
    """
    current = nft.read_table(desired.table)
    the_plan = make_plan(desired, current)
    diff = dict(before=canonical(current, desired), after=canonical(desired))
    if the_plan.changed:
        if check_mode:
            nft.check(the_plan.script)
        else:
            nft.apply(the_plan.script)
            left = make_plan(desired, nft.read_table(desired.table))
            if left.changed:
                raise NftError(["nft", "-f", "-"], 0, "the table differs from the policy after the apply: %s" % left.summary())
    return dict(changed=the_plan.changed, plan=the_plan.summary(), diff=diff, script=the_plan.script)
