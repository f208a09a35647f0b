# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The systemd-networkd directory of a node as the host network stage manages it.

A file is ours when its first line is the marker that reforge.hci.networkd_files writes. Ours that the plan no
longer has are removed; files we did not make are left alone, except that one that would fight the plan (the same
file name, a .network matching a planned interface or MAC, a .netdev of a planned name) is refused with its path,
and so is an ifupdown stanza for a planned interface. Pure, apart from reading the directory."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import fnmatch
import os
import re

MARKER = "# Rendered by reforge.hci.networkd_files"
SUFFIXES = (".network", ".netdev", ".link")


def read_dir(path):
    """{file name: text} of the networkd files (.network, .netdev, .link) in path; {} when it does not exist."""
    out = {}
    if not os.path.isdir(path):
        return out
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if name.endswith(SUFFIXES) and os.path.isfile(full):
            with open(full, "rb") as fh:
                out[name] = fh.read().decode("utf-8", "replace")
    return out


def ours(text, marker=MARKER):
    return text.startswith(marker)


def sections(text):
    """{section: [(key, value)]} of an INI-like networkd file (repeated sections merged, comments dropped)."""
    out, current = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = out.setdefault(line[1:-1], [])
        elif "=" in line and current is not None:
            key, value = line.split("=", 1)
            current.append((key.strip(), value.strip()))
    return out


def _values(text, section, *keys):
    return [w for k, v in sections(text).get(section, []) if k in keys for w in v.split()]


def _name_matches(patterns, name):
    """systemd's Name= matching: globs, a leading '!' inverts the whole list."""
    if not patterns:
        return False
    if patterns[0].startswith("!"):
        return not any(fnmatch.fnmatchcase(name, p.lstrip("!")) for p in patterns)
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def planned_links(files):
    """(interface names, MACs) the rendered files configure: Name= of .network/.netdev and PermanentMACAddress=."""
    names, macs = set(), set()
    for fname, text in files.items():
        if fname.endswith(".netdev"):
            names.update(_values(text, "NetDev", "Name"))
        elif fname.endswith(".network"):
            names.update(_values(text, "Match", "Name"))
            macs.update(m.lower() for m in _values(text, "Match", "PermanentMACAddress", "MACAddress"))
    return names, macs


def conflicts(path, current, files, interfaces=(), ifupdown_text=None, ifupdown_path="/etc/network/interfaces",
              replace=(), marker=MARKER):
    """Refusals (one text each, with the file's path) for files not ours that would fight the rendered ``files``.

    ``interfaces``: more planned interface names (the bond members, matched by MAC in the files but named by the
    installer's files); ``replace``: names of files not ours that the operator lets the change remove."""
    names, macs = planned_links(files)
    names.update(interfaces)
    out = []
    for fname, text in sorted(current.items()):
        if ours(text, marker) or fname in replace:
            continue
        full = os.path.join(path, fname)
        if fname in files:
            out.append("%s: a file of that name exists and was not made by reforge.hci (no marker line); the plan "
                       "renders it" % full)
            continue
        if fname.endswith(".netdev"):
            clash = sorted(set(_values(text, "NetDev", "Name")) & names)
            if clash:
                out.append("%s: creates %s, which the plan creates too" % (full, ", ".join(clash)))
        elif fname.endswith(".network"):
            match = sections(text).get("Match")
            patterns = _values(text, "Match", "Name")
            hit_names = sorted(n for n in names if _name_matches(patterns, n))
            hit_macs = sorted(macs & set(m.lower() for m in _values(text, "Match", "PermanentMACAddress", "MACAddress")))
            if not match:
                out.append("%s: has no [Match] and so matches every interface, the plan's too" % full)
            elif hit_names or hit_macs:
                out.append("%s: matches %s, which the plan configures" % (full, ", ".join(hit_names + hit_macs)))
    for number, line in enumerate((ifupdown_text or "").splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and (words[0] in ("iface", "auto") or words[0].startswith("allow-")):
            named = [w for w in (words[1:2] if words[0] == "iface" else words[1:]) if w.split(":")[0] in names]
            if named:
                out.append("%s line %d: ifupdown configures %s, which the plan gives to systemd-networkd (%s)"
                           % (ifupdown_path, number, ", ".join(named), line.strip()))
    return out


def changes(current, files, replace=(), marker=MARKER):
    """dict(write, remove, unchanged, netdevs): file names to write (new or different), to remove (ours no longer
    planned, and the replaced ones present), unchanged, and the netdevs whose .netdev file changes or goes (their
    links are deleted and made again on activation: networkd does not change an existing netdev)."""
    write = sorted(n for n, t in files.items() if current.get(n) != t)
    remove = sorted(n for n, t in current.items() if n not in files and (ours(t, marker) or n in replace))
    netdevs = set()
    for name in write + remove:
        if name.endswith(".netdev") and name in current:
            netdevs.update(_values(current[name], "NetDev", "Name"))
    return dict(write=write, remove=remove, unchanged=sorted(set(files) - set(write)), netdevs=sorted(netdevs))


def diff(path, current, files, change):
    """Ansible's list of per-file diffs for the change."""
    out = []
    for name in change["write"] + change["remove"]:
        full = os.path.join(path, name)
        out.append(dict(before_header=full if name in current else "%s (absent)" % full,
                        after_header=full if name in files else "%s (removed)" % full,
                        before=current.get(name, ""), after=files.get(name, "")))
    return out


FILE_NAME_RE = re.compile(r'^[A-Za-z0-9_@.+-]+\.(network|netdev)$')


def bad_file_names(files):
    """Rendered names that are not plain networkd file names (a path, a slash, another suffix)."""
    return sorted(n for n in files if not FILE_NAME_RE.match(n) or n.startswith("."))
