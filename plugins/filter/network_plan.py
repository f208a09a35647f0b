# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Campus host networking: the per-node plan (bonds, VLAN interfaces, bridges, addresses, MTU, the
default route) from the campus network definition and each node's discovered NICs, refused before
anything is touched when the definition is wrong; and the systemd-networkd files of one node's plan.

Both are pure: the same definition and facts give the same plan, and the same plan the same bytes."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.reforge.hci.plugins.filter.address_plan import (
    MAC_RE, _networks, _require_netaddr, address_plan, unique_macs)
from ansible_collections.reforge.hci.plugins.module_utils.redfish.reuse import ethernet_ports

try:
    import netaddr
except ImportError:
    pass    # _require_netaddr() says so

MODES = ("802.3ad", "active-backup")
LACP_RATES = ("fast", "slow")
HASH_POLICIES = ("layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4")
LACP_OPTIONS = ("lacp_rate", "xmit_hash_policy")
MII_MONITOR = "100ms"
SWITCH_MTU = 1500   # what a switch path is taken to carry when its switch declares no mtu
IFNAME_RE = re.compile(r'^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,14}$')
NODE_KEYS = ("index", "bonds", "bridges", "nics", "default_gateway")
BOND_KEYS = ("mode", "members", "networks", "switches", "lacp_rate", "xmit_hash_policy", "primary")
FABRIC = {"fc_ports": "a Fibre Channel port", "ib_ports": "an InfiniBand port"}


def _fail(errors):
    raise AnsibleFilterError("network_plan: the campus network definition is refused, nothing was planned:\n  "
                             + "\n  ".join(errors))


def _whole(value):
    """int(value) for a whole number (not a bool, not 'jumbo'), else None."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _mac(value):
    """The MAC in lower-case colon form, or None when value is not a six-octet MAC."""
    if not isinstance(value, str) or not MAC_RE.match(value):
        return None
    return str(netaddr.EUI(value, dialect=netaddr.mac_unix_expanded))


def _ports(facts):
    """(nics, fabric ports) of one node from its facts: bmc_info's C(bmc) (nics, fc_ports, ib_ports), an entry of
    bmc_info's C(bmcs) result ({bmc: ...}), or a plain list of NICs (name or id, mac, speed_mbps or speed)."""
    if isinstance(facts, dict) and isinstance(facts.get("bmc"), dict):
        facts = facts["bmc"]
    if isinstance(facts, list):
        facts = {"nics": facts}
    if not isinstance(facts, dict):
        return None, None
    nics = ethernet_ports(facts)
    fabric = [(n, "a %s port" % n.get("protocol")) for n in facts.get("nics") or [] if n not in nics]
    for key, what in sorted(FABRIC.items()):
        fabric.extend((p, what) for p in facts.get(key) or [])
    return [dict(name=n.get("name") or n.get("device") or n.get("id"), id=n.get("id"),
                 mac=_mac(n.get("mac") or n.get("perm_macaddress") or n.get("macaddress")),
                 speed_mbps=_speed(n)) for n in nics], fabric


def _speed(nic):
    speed = _whole(nic.get("speed_mbps", nic.get("speed")))
    return speed if speed and speed > 0 else None


def _find(ref, nics, fabric):
    """(nic, None) for the NIC that ref names (OS name, Redfish id or MAC), or (None, what it is instead)."""
    mac = _mac(ref)
    for nic in nics:
        if (mac and nic["mac"] == mac) or (not mac and ref in (nic["name"], nic["id"])):
            return nic, None
    for port, what in fabric:
        if ref in (port.get("id"), port.get("name"), port.get("wwpn")) or (mac and _mac(port.get("mac")) == mac):
            return None, what
    return None, None


class _Node(object):
    """The checks and the plan of one node; every refusal goes to ``errors`` with its field path."""

    def __init__(self, name, spec, facts, campus, errors):
        self.name, self.spec, self.campus, self.errors = name, spec, campus, errors
        self.path = "nodes.%s" % name
        self.nics, self.fabric = _ports(facts)
        self.used = {}      # NIC name -> field path of the member that took it
        self.carried = {}   # network -> (bond, tagged)
        self.warnings = []

    def refuse(self, field, text):
        self.errors.append("%s: %s" % (field, text))

    def known_keys(self, path, spec, keys):
        for key in sorted(set(spec) - set(keys), key=str):
            self.refuse("%s.%s" % (path, key), "unknown option (known: %s)" % ", ".join(keys))

    def plan(self, addresses):
        spec = self.spec
        self.known_keys(self.path, spec, NODE_KEYS)
        index = _whole(spec.get("index"))
        if index is None or index < 1:
            self.refuse(self.path + ".index", "a whole number >= 1 is required (it fixes the node's addresses)")
        if self.nics is None:
            self.refuse(self.path + ".nics", "no NIC facts for %s (give the discovery facts or nodes.%s.nics)"
                        % (self.name, self.name))
            self.nics, self.fabric = [], []
        bonds = spec.get("bonds")
        if not isinstance(bonds, dict) or not bonds:
            self.refuse(self.path + ".bonds", "at least one bond is needed (a mapping of bond name -> members, networks)")
            bonds = {}
        plan = dict(name=self.name, index=index, bonds={}, vlans={}, bridges={}, networks={},
                    dns=[str(s) for s in self.campus.get("dns") or []],
                    domains=[str(d) for d in self.campus.get("domains") or []], warnings=self.warnings)
        for bond_name in sorted(bonds):
            bond = self.bond(bond_name, bonds[bond_name] if isinstance(bonds[bond_name], dict) else {})
            if bond:
                plan["bonds"][bond_name] = bond
        self.interfaces(plan, addresses)
        plan["vlans"] = dict(sorted(plan["vlans"].items()))
        plan["default_gateway"] = self.default_gateway(plan)
        return plan

    def ifname(self, field, name):
        if not isinstance(name, str) or not IFNAME_RE.match(name):
            self.refuse(field, "%r is not an interface name (1-15 characters: letters, digits, '.', '_', '-')" % (name,))
            return False
        return True

    def bond(self, name, spec):
        path = "%s.bonds.%s" % (self.path, name)
        if not self.ifname(path, name):
            return None
        self.known_keys(path, spec, BOND_KEYS)
        mode = spec.get("mode", "802.3ad")
        bond = dict(name=name, mode=mode, miimon=MII_MONITOR, members=[], primary=None, untagged=None, tagged=[])
        if mode not in MODES:
            self.refuse(path + ".mode", "%r is not a bond mode here (802.3ad or active-backup)" % (mode,))
        elif mode == "802.3ad":
            bond["lacp_rate"] = spec.get("lacp_rate", "fast")
            bond["xmit_hash_policy"] = spec.get("xmit_hash_policy", "layer3+4")
            if bond["lacp_rate"] not in LACP_RATES:
                self.refuse(path + ".lacp_rate", "%r is not fast or slow" % (bond["lacp_rate"],))
            if bond["xmit_hash_policy"] not in HASH_POLICIES:
                self.refuse(path + ".xmit_hash_policy", "%r is not one of %s" % (bond["xmit_hash_policy"], ", ".join(HASH_POLICIES)))
            if spec.get("primary") is not None:
                self.refuse(path + ".primary", "a primary member is an active-backup option; 802.3ad uses every member")
        else:
            for option in LACP_OPTIONS:
                if option in spec:
                    self.refuse(path + "." + option, "an LACP option on an active-backup bond (remove it, or use mode 802.3ad)")
        self.members(path, spec, bond)
        if mode == "active-backup" and spec.get("primary") is not None:
            nic, _what = _find(spec["primary"], [m["nic_facts"] for m in bond["members"]], [])
            if nic is None:
                self.refuse(path + ".primary", "%r is not a member of %s" % (spec["primary"], name))
            else:
                bond["primary"] = nic["name"]
        for member in bond["members"]:
            del member["nic_facts"]
        self.networks(path, spec, bond)
        return bond

    def members(self, path, spec, bond):
        members = spec.get("members")
        if not isinstance(members, list) or not members:
            self.refuse(path + ".members", "a bond needs at least one member NIC")
            return
        if len(members) == 1:
            self.warnings.append("%s: one member, no redundancy (allowed: a member can be added later)" % path)
        default_switches = spec.get("switches") or []
        speeds = {}
        for pos, member in enumerate(members):
            field = "%s.members[%d]" % (path, pos)
            ref = member.get("nic") if isinstance(member, dict) else member
            nic, what = _find(ref, self.nics, self.fabric)
            if nic is None:
                known = ", ".join(sorted("%s (%s)" % (n["name"], n["mac"] or "no MAC") for n in self.nics)) or "none"
                self.refuse(field, "%r is %s of %s, not a NIC (NICs: %s)" % (ref, what, self.name, known) if what else
                            "%r is not a NIC of %s (NICs: %s)" % (ref, self.name, known))
                continue
            if nic["name"] in self.used:
                self.refuse(field, "%s is already a member at %s (a NIC belongs to one bond)" % (nic["name"], self.used[nic["name"]]))
                continue
            self.used[nic["name"]] = field
            if nic["mac"] is None:
                self.refuse(field, "%s has no MAC in the facts (members are matched by their permanent MAC)" % nic["name"])
            switch = member.get("switch") if isinstance(member, dict) else None
            switches = [switch] if switch else list(default_switches)
            for sw in switches:
                if sw not in self.campus["switches"]:
                    self.refuse(field if switch else path + ".switches", "switch %r is not in switches" % (sw,))
            if nic["speed_mbps"]:
                speeds[nic["name"]] = nic["speed_mbps"]
            bond["members"].append(dict(nic=nic["name"], mac=nic["mac"], speed_mbps=nic["speed_mbps"], switches=switches,
                                        port=member.get("port") if isinstance(member, dict) else None, nic_facts=nic))
        if len(set(speeds.values())) > 1:
            self.refuse(path + ".members", "members of different speeds (%s): a bond's members run at one speed"
                        % ", ".join("%s %d Mb/s" % (n, s) for n, s in sorted(speeds.items())))

    def networks(self, path, spec, bond):
        networks = spec.get("networks")
        if isinstance(networks, list):
            networks = dict((n, None) for n in networks)
        if not isinstance(networks, dict) or not networks:
            self.refuse(path + ".networks", "a bond carries at least one network (name -> tagged or untagged)")
            return
        defined = self.campus["networks"]
        mtus = []
        for net in sorted(networks, key=str):
            field = "%s.networks.%s" % (path, net)
            if net not in defined:
                self.refuse(field, "network %r is not defined in networks" % (net,))
                continue
            vlan = defined[net].get("vlan")
            how = networks[net] or ("tagged" if vlan is not None else "untagged")
            if how not in ("tagged", "untagged"):
                self.refuse(field, "%r: a network rides tagged or untagged" % (how,))
                continue
            if how == "tagged" and vlan is None:
                self.refuse(field, "network %s has no vlan, so it can only ride untagged" % net)
                continue
            if net in self.carried:
                self.refuse(field, "network %s is already on %s (a network rides on one bond of a node)" % (net, self.carried[net][0]))
                continue
            if how == "untagged":
                if bond["untagged"]:
                    self.refuse(field, "%s and %s are both untagged on %s (one native network per bond)" % (bond["untagged"], net, bond["name"]))
                    continue
                bond["untagged"] = net
            else:
                bond["tagged"].append(net)
            self.carried[net] = (bond["name"], how == "tagged")
            mtu = int(defined[net].get("mtu", 1500))
            mtus.append(mtu)
            self.switch_path(field, net, mtu, bond)
        bond["mtu"] = max(mtus or [1500])

    def switch_path(self, field, net, mtu, bond):
        if not bond["members"]:
            return
        paths = [sw for m in bond["members"] for sw in m["switches"]]
        if mtu > SWITCH_MTU and not all(m["switches"] for m in bond["members"]):
            self.refuse(field, "network %s has mtu %d but %s's switch path is not declared (a switch for every member, "
                        "with its mtu)" % (net, mtu, bond["name"]))
        for sw in sorted(set(paths)):
            carries = self.campus["switches"][sw]["mtu"] if sw in self.campus["switches"] else SWITCH_MTU
            if mtu > carries:
                self.refuse(field, "network %s has mtu %d but switch %s carries %d (switches.%s.mtu)" % (net, mtu, sw, carries, sw))

    def interfaces(self, plan, addresses):
        """VLAN interfaces, bridges, and where each carried network's address goes."""
        defined = self.campus["networks"]
        for bond in plan["bonds"].values():
            for net in bond["tagged"]:
                vid = int(defined[net]["vlan"])
                vname = "%s.%d" % (bond["name"], vid)
                if self.ifname("%s.bonds.%s.networks.%s" % (self.path, bond["name"], net), vname):
                    plan["vlans"][vname] = dict(name=vname, bond=bond["name"], id=vid, network=net, mtu=int(defined[net].get("mtu", 1500)))
        bridges = self.spec.get("bridges") or {}
        bridged = {}
        for br in sorted(bridges):
            path = "%s.bridges.%s" % (self.path, br)
            net = (bridges[br] or {}).get("network") if isinstance(bridges[br], dict) else None
            if not self.ifname(path, br):
                continue
            if net not in self.carried:
                self.refuse(path + ".network", "network %r is not on any bond of %s" % (net, self.name))
            elif net in bridged:
                self.refuse(path + ".network", "network %s already has the bridge %s" % (net, bridged[net]))
            else:
                bridged[net] = br
                bond, tagged = self.carried[net]
                port = "%s.%d" % (bond, int(defined[net]["vlan"])) if tagged else bond
                plan["bridges"][br] = dict(name=br, network=net, port=port, mtu=int(defined[net].get("mtu", 1500)))
        for net, (bond, tagged) in sorted(self.carried.items()):
            vname = "%s.%d" % (bond, int(defined[net]["vlan"])) if tagged else bond
            iface = bridged.get(net, vname)
            link_mtu = plan["bonds"][bond]["mtu"] if iface == bond else int(defined[net].get("mtu", 1500))
            entry = dict(interface=iface, bond=bond, tagged=tagged, vlan=defined[net].get("vlan"),
                         mtu=int(defined[net].get("mtu", 1500)), link_mtu=link_mtu, bridge=bridged.get(net),
                         gateway=None, default=False, address=None, cidr=None, prefix=None, network=None)
            if defined[net].get("host_address", True) and addresses.get(self.name):
                a = addresses[self.name][net]
                entry.update(address=a["address"], cidr=a["cidr"], prefix=a["prefix"], network=a["network"])
            plan["networks"][net] = entry

    def default_gateway(self, plan):
        field = self.path + ".default_gateway"
        chosen = self.spec.get("default_gateway", self.campus.get("default_gateway"))
        gateways = sorted(n for n, e in plan["networks"].items() if self.campus["networks"][n].get("gateway") and e["address"])
        if chosen is None:
            if len(gateways) > 1:
                self.refuse(field, "more than one default gateway: networks %s have a gateway; name the one for the default route"
                            % ", ".join(gateways))
                return None
            if not gateways:
                if plan["networks"]:
                    self.warnings.append("%s: no network of %s has a gateway: no default route" % (field, self.name))
                return None
            chosen = gateways[0]
        if chosen not in plan["networks"]:
            self.refuse(field, "network %r is not on any bond of %s" % (chosen, self.name))
            return None
        if chosen not in gateways:
            self.refuse(field, "network %s has no gateway (or no host address) for the default route" % chosen)
            return None
        entry = plan["networks"][chosen]
        entry.update(gateway=self.campus["networks"][chosen]["gateway"], default=True)
        return dict(network=chosen, gateway=entry["gateway"], interface=entry["interface"])


def _switches(switches, errors):
    """{name: {mtu}} of the campus switches; a switch without mtu carries SWITCH_MTU."""
    if switches is None:
        return {}
    if not isinstance(switches, dict):
        errors.append("switches: a mapping of switch name -> {mtu}")
        return {}
    parsed = {}
    for name, spec in sorted(switches.items()):
        given = (spec or {}).get("mtu", SWITCH_MTU) if isinstance(spec, (dict, type(None))) else spec
        mtu = _whole(given)
        if mtu is None or not 576 <= mtu <= 9216:
            errors.append("switches.%s.mtu: %r is not an MTU from 576 to 9216 (the largest IP MTU the switch carries)" % (name, given))
        parsed[name] = dict(mtu=mtu or SWITCH_MTU)
    return parsed


def network_plan(campus, nic_facts=None):
    """Return {node: plan} for the campus definition, or refuse it whole with every wrong field named.

    ``campus``: {networks, switches, nodes, dns, domains, default_gateway}; ``nic_facts``: {node: facts} where facts
    are bmc_info's C(bmc) (or an entry of its C(bmcs)) or a list of NICs; a node without facts there uses
    ``nodes.<node>.nics``."""
    _require_netaddr()
    if not isinstance(campus, dict):
        raise AnsibleFilterError("network_plan: the campus definition must be a mapping with networks and nodes")
    _networks(campus.get("networks"))   # address_plan's refusals first: nothing else makes sense without them
    errors = []
    definition = dict(campus, switches=_switches(campus.get("switches"), errors))
    nodes = campus.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        errors.append("nodes: a mapping of node name -> {index, bonds}")
        _fail(errors)
    nic_facts = nic_facts or {}
    indexed = [dict(name=n, index=_whole((s or {}).get("index"))) for n, s in sorted(nodes.items()) if isinstance(s, dict)]
    addresses = {}
    if all(i["index"] and i["index"] >= 1 for i in indexed):
        addresses = address_plan(campus["networks"], indexed)   # its own refusals: same index, exhausted subnet
    plans, macs = {}, {}
    for name in sorted(nodes):
        spec = nodes[name] if isinstance(nodes[name], dict) else {}
        node = _Node(name, spec, nic_facts.get(name, spec.get("nics")), definition, errors)
        plans[name] = node.plan(addresses)
        macs[name] = [m["mac"] for b in plans[name]["bonds"].values() for m in b["members"] if m["mac"]]
    if errors:
        _fail(errors)
    unique_macs(macs)   # one member MAC on two nodes: a cloned or mis-read inventory
    return plans


# ------------------------------------------------------------------------------------------ rendering
HEADER = "# Rendered by reforge.hci.networkd_files from the campus network plan; changes here are overwritten.\n"


def _ini(sections):
    """INI text of [(section, [(key, value)])]; sections and keys keep their order (repeated ones too)."""
    blocks = []
    for section, items in sections:
        blocks.append("[%s]\n%s" % (section, "".join("%s=%s\n" % (k, v) for k, v in items)))
    return HEADER + "\n".join(blocks)


def _no_address():
    return [("LinkLocalAddressing", "no"), ("IPv6AcceptRA", "no")]


def _address(plan, net):
    """The [Network] items and extra sections that give ``net``'s address (and default route) to its interface.

    A network on a link whose MTU is larger (an untagged network on a bond that also carries jumbo VLANs)
    gets its routes with its own MTU: its hosts' path MTU stays the network's, not the link's."""
    entry = plan["networks"][net]
    if not entry["address"]:
        return _no_address(), []
    items = [("IPv6AcceptRA", "no")]
    if entry["default"]:
        items += [("DNS", " ".join(plan["dns"]))] if plan["dns"] else []
        items += [("Domains", " ".join(plan["domains"]))] if plan["domains"] else []
    route_mtu = [("MTUBytes", str(entry["mtu"]))] if entry["mtu"] < entry["link_mtu"] else []
    if route_mtu:
        sections = [("Address", [("Address", entry["cidr"]), ("AddPrefixRoute", "no")]),
                    ("Route", [("Destination", entry["network"]), ("Scope", "link"),
                               ("PreferredSource", entry["address"])] + route_mtu)]
    else:
        sections = [("Address", [("Address", entry["cidr"])])]
    if entry["default"]:
        sections.append(("Route", [("Gateway", entry["gateway"])] + route_mtu))
    return items, sections


def _netdev(name, kind, mtu, section, items):
    return _ini([("NetDev", [("Name", name), ("Kind", kind), ("MTUBytes", str(mtu))]), (section, items)])


def _network_file(plan, name, mtu, network_items, net=None):
    items, extra = _address(plan, net) if net else (_no_address(), [])
    return _ini([("Match", [("Name", name)]), ("Link", [("MTUBytes", str(mtu))]), ("Network", network_items + items)] + extra)


def networkd_files(plan):
    """{file name: content} of the systemd-networkd .netdev/.network files for one node's plan (an entry of
    network_plan's result): sorted and with stable numbered names, so the same plan renders the same bytes."""
    if not isinstance(plan, dict) or "bonds" not in plan:
        raise AnsibleFilterError("networkd_files: give one node's plan (an entry of reforge.hci.network_plan's result)")
    files = {}
    by_port = dict((b["port"], b["name"]) for b in plan["bridges"].values())
    on_iface = dict((e["interface"], n) for n, e in plan["networks"].items())
    for bname, bond in sorted(plan["bonds"].items()):
        for member in bond["members"]:
            items = [("Bond", bname)] + ([("PrimarySlave", "yes")] if bond["primary"] == member["nic"] else []) + _no_address()
            files["10-%s-%s.network" % (bname, re.sub(r'[^A-Za-z0-9_.-]', '-', member["nic"]))] = _ini([
                ("Match", [("PermanentMACAddress", member["mac"])]), ("Link", [("MTUBytes", str(bond["mtu"]))]),
                ("Network", items)])
        options = [("Mode", bond["mode"])]
        if bond["mode"] == "802.3ad":
            options += [("LACPTransmitRate", bond["lacp_rate"]), ("TransmitHashPolicy", bond["xmit_hash_policy"])]
        options.append(("MIIMonitorSec", bond["miimon"]))
        files["20-%s.netdev" % bname] = _netdev(bname, "bond", bond["mtu"], "Bond", options)
        vlans = sorted((v for v in plan["vlans"].values() if v["bond"] == bname), key=lambda v: v["id"])
        items = [("VLAN", v["name"]) for v in vlans] + ([("Bridge", by_port[bname])] if bname in by_port else [])
        untagged = on_iface.get(bname) if bname not in by_port else None
        files["20-%s.network" % bname] = _network_file(plan, bname, bond["mtu"], items, untagged)
    for vname, vlan in sorted(plan["vlans"].items()):
        files["30-%s.netdev" % vname] = _netdev(vname, "vlan", vlan["mtu"], "VLAN", [("Id", str(vlan["id"]))])
        items = [("Bridge", by_port[vname])] if vname in by_port else []
        files["30-%s.network" % vname] = _network_file(plan, vname, vlan["mtu"], items, None if items else vlan["network"])
    for brname, bridge in sorted(plan["bridges"].items()):
        files["40-%s.netdev" % brname] = _netdev(brname, "bridge", bridge["mtu"], "Bridge", [("STP", "no")])
        files["40-%s.network" % brname] = _network_file(plan, brname, bridge["mtu"], [("ConfigureWithoutCarrier", "yes")],
                                                        bridge["network"])
    return dict(sorted(files.items()))


class FilterModule(object):
    def filters(self):
        return {"network_plan": network_plan, "networkd_files": networkd_files}
