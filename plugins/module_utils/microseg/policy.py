# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Micro-segmentation policy: tiers, each VM's tier, allowed flows between tiers.

Pure: parses and validates the inventory's policy before anything is touched. Every refusal is
a :class:`PolicyError` naming the field (``vms[2].tier``) so a user finds the line to fix.

Shape (inventory)::

    tiers:  [{name: tier1, description: HIS/EMR}, ...]
    vms:    [{name: his-db-01, tier: tier1, macs: ["52:54:00:..."], interfaces: ["vm-his-db-01"]}, ...]
    flows:  [{from: tier2, to: tier1, proto: tcp, ports: [443, "8000-8010"]}, {from: a, to: b, proto: icmp}]

Within a tier everything is allowed; between tiers only the listed flows (default deny).
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

PROTOCOLS = ("tcp", "udp", "icmp")
TIER_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
TIER_NAME_MAX = 24
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


class PolicyError(ValueError):
    """A policy refused before any change; ``field`` names where it is wrong."""

    def __init__(self, field, message):
        self.field = field
        super(PolicyError, self).__init__("microseg policy %s: %s" % (field, message))


class Tier(object):
    def __init__(self, name, description):
        self.name = name
        self.description = description

    def as_dict(self):
        return dict(name=self.name, description=self.description)


class Vm(object):
    def __init__(self, name, tier, macs, interfaces):
        self.name = name
        self.tier = tier
        self.macs = macs
        self.interfaces = interfaces

    def as_dict(self):
        return dict(name=self.name, tier=self.tier, macs=list(self.macs), interfaces=list(self.interfaces))


class Flow(object):
    def __init__(self, src, dst, proto, ports):
        self.src = src
        self.dst = dst
        self.proto = proto
        self.ports = ports  # list of (low, high); empty for icmp

    def port_strings(self):
        return [str(lo) if lo == hi else "%d-%d" % (lo, hi) for lo, hi in self.ports]

    def as_dict(self):
        out = {"from": self.src, "to": self.dst, "proto": self.proto}
        if self.ports:
            out["ports"] = self.port_strings()
        return out


class Policy(object):
    def __init__(self, tiers, vms, flows):
        self.tiers = tiers
        self.vms = vms
        self.flows = flows

    def tier_names(self):
        return [t.name for t in self.tiers]

    def macs_of(self, tier):
        return sorted(set(m for vm in self.vms if vm.tier == tier for m in vm.macs))

    def flows_between(self, src, dst):
        return [f for f in self.flows if f.src == src and f.dst == dst]

    def allowed(self, src, dst, proto, port=None):
        """Whether the policy allows ``proto``/``port`` from a VM of ``src`` to one of ``dst``."""
        if src == dst:
            return True
        for flow in self.flows_between(src, dst):
            if flow.proto != proto:
                continue
            if proto == "icmp" or any(lo <= int(port) <= hi for lo, hi in flow.ports):
                return True
        return False

    def as_dict(self):
        return dict(tiers=[t.as_dict() for t in self.tiers], vms=[v.as_dict() for v in self.vms],
                    flows=[f.as_dict() for f in self.flows])


def _require_list(value, field):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise PolicyError(field, "must be a list, got %s" % type(value).__name__)
    return list(value)


def _require_dict(value, field):
    if not isinstance(value, dict):
        raise PolicyError(field, "must be a mapping, got %r" % (value,))
    return value


def _parse_port(value, field):
    text = str(value).strip()
    match = re.match(r"^(\d+)(?:-(\d+))?$", text)
    if isinstance(value, bool) or not match:
        raise PolicyError(field, "%r is not a port or a range like 8000-8010" % (value,))
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    if not 1 <= low <= 65535 or not 1 <= high <= 65535:
        raise PolicyError(field, "port %s is outside 1..65535" % text)
    if high < low:
        raise PolicyError(field, "range %s runs backwards (write %d-%d)" % (text, high, low))
    return (low, high)


def _merge_ranges(ranges):
    out = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def parse_policy(tiers, vms, flows):
    """Validate the three inventory lists; return a :class:`Policy` or raise :class:`PolicyError`."""
    parsed_tiers = []
    seen = {}
    for i, raw in enumerate(_require_list(tiers, "tiers")):
        field = "tiers[%d]" % i
        if isinstance(raw, str):
            raw = dict(name=raw)
        raw = _require_dict(raw, field)
        name = raw.get("name")
        if not isinstance(name, str) or not TIER_NAME.match(name) or len(name) > TIER_NAME_MAX:
            raise PolicyError(field + ".name", "%r is not a tier name (lower-case letters and digits, words joined by "
                                               "single underscores, at most %d characters)" % (name, TIER_NAME_MAX))
        if name in seen:
            raise PolicyError(field + ".name", "duplicate tier name %r (also tiers[%d])" % (name, seen[name]))
        seen[name] = i
        parsed_tiers.append(Tier(name, str(raw.get("description") or "")))
    if not parsed_tiers:
        raise PolicyError("tiers", "no tiers defined")
    known = ", ".join(t.name for t in parsed_tiers)

    parsed_vms = []
    vm_at = {}
    mac_owner = {}
    iface_owner = {}
    for i, raw in enumerate(_require_list(vms, "vms")):
        field = "vms[%d]" % i
        raw = _require_dict(raw, field)
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise PolicyError(field + ".name", "every VM needs a name")
        tier = raw.get("tier")
        if isinstance(tier, (list, tuple)):
            if len(tier) > 1:
                raise PolicyError(field + ".tier", "VM %s is in two tiers (%s); a VM belongs to exactly one tier"
                                  % (name, ", ".join(str(t) for t in tier)))
            tier = tier[0] if tier else None
        if tier in (None, ""):
            raise PolicyError(field + ".tier", "VM %s is in no tier (set tier to one of: %s)" % (name, known))
        if tier not in seen:
            raise PolicyError(field + ".tier", "VM %s names unknown tier %r (known: %s)" % (name, tier, known))
        if name in vm_at:
            other = parsed_vms[vm_at[name]]
            if other.tier != tier:
                raise PolicyError(field + ".tier", "VM %s is in two tiers (%s in vms[%d], %s here); a VM belongs to "
                                  "exactly one tier" % (name, other.tier, vm_at[name], tier))
            raise PolicyError(field + ".name", "VM %s is listed twice (also vms[%d])" % (name, vm_at[name]))
        macs = []
        for j, mac in enumerate(_require_list(raw.get("macs"), field + ".macs")):
            text = str(mac).strip().lower().replace("-", ":")
            if not MAC.match(text):
                raise PolicyError("%s.macs[%d]" % (field, j), "%r is not a MAC address like 52:54:00:12:34:56" % (mac,))
            if int(text[:2], 16) & 1:
                raise PolicyError("%s.macs[%d]" % (field, j), "%s is a multicast address, not a VM's" % text)
            if text in mac_owner and mac_owner[text] != name:
                raise PolicyError("%s.macs[%d]" % (field, j), "%s is also VM %s's MAC" % (text, mac_owner[text]))
            mac_owner[text] = name
            macs.append(text)
        if not macs:
            raise PolicyError(field + ".macs", "VM %s has no MAC address; its traffic could not be placed in a tier" % name)
        interfaces = []
        for j, iface in enumerate(_require_list(raw.get("interfaces"), field + ".interfaces")):
            if not isinstance(iface, str) or not IFNAME.match(iface):
                raise PolicyError("%s.interfaces[%d]" % (field, j), "%r is not an interface name (1-15 characters)" % (iface,))
            if iface in iface_owner and iface_owner[iface] != name:
                raise PolicyError("%s.interfaces[%d]" % (field, j), "%s is also VM %s's interface" % (iface, iface_owner[iface]))
            iface_owner[iface] = name
            interfaces.append(iface)
        vm_at[name] = i
        parsed_vms.append(Vm(name, tier, sorted(set(macs)), sorted(set(interfaces))))

    merged = {}
    order = []
    for i, raw in enumerate(_require_list(flows, "flows")):
        field = "flows[%d]" % i
        raw = _require_dict(raw, field)
        for key in ("from", "to"):
            if raw.get(key) not in seen:
                raise PolicyError("%s.%s" % (field, key), "unknown tier %r (known: %s)" % (raw.get(key), known))
        src, dst = raw["from"], raw["to"]
        if src == dst:
            raise PolicyError(field + ".to", "a flow from %s to itself: within a tier everything is allowed already" % src)
        proto = raw.get("proto", raw.get("protocol"))
        if proto not in PROTOCOLS:
            raise PolicyError(field + ".proto", "%r is not one of: %s" % (proto, ", ".join(PROTOCOLS)))
        ports_raw = raw.get("ports", raw.get("port"))
        if ports_raw is not None and not isinstance(ports_raw, (list, tuple)):
            ports_raw = [ports_raw]
        if proto == "icmp":
            if ports_raw:
                raise PolicyError(field + ".ports", "icmp has no ports")
            ports = []
        else:
            if not ports_raw:
                raise PolicyError(field + ".ports", "a %s flow needs its ports (without connection tracking on the "
                                  "bridge, replies are allowed by source port, so any-port would open every port back)" % proto)
            ports = [_parse_port(p, "%s.ports[%d]" % (field, j)) for j, p in enumerate(ports_raw)]
        key = (src, dst, proto)
        if key not in merged:
            merged[key] = []
            order.append(key)
        merged[key].extend(ports)
    parsed_flows = [Flow(s, d, p, _merge_ranges(merged[(s, d, p)])) for s, d, p in sorted(order)]
    return Policy(parsed_tiers, parsed_vms, parsed_flows)


def policy_argument_spec():
    """The options every microseg module takes for the policy and its table (doc fragment reforge.hci.microseg)."""
    return dict(
        tiers=dict(type='list', elements='raw', required=True),
        vms=dict(type='list', elements='dict', required=True),
        flows=dict(type='list', elements='dict', default=[]),
        table=dict(type='str', default='reforge_microseg'),
    )


def module_policy(module):
    """The policy of a module's parameters (policy_argument_spec), or the module fails naming the field."""
    p = module.params
    try:
        policy = parse_policy(p['tiers'], p['vms'], p['flows'])
    except PolicyError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
        raise  # not reached: fail_json exits
    return policy
