# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    # The segmentation policy and its table, for every module that reads them (microseg_policy applies them,
    # microseg_topology and microseg_evidence report on them).
    DOCUMENTATION = r'''
options:
  tiers:
    description: Tiers, each with C(name) and C(description).
    type: list
    elements: raw
    required: true
  vms:
    description:
      - VMs, each with C(name), C(tier), C(macs) and optional C(interfaces) (tap names bound to the MACs).
      - M(reforge.hci.microseg_topology) also reads an optional C(node), where the VM runs.
    type: list
    elements: dict
    required: true
  flows:
    description: Allowed flows between tiers, each with C(from), C(to), C(proto) (tcp, udp or icmp) and C(ports) (tcp and udp).
    type: list
    elements: dict
    default: []
  table:
    description: Name of the bridge-family table.
    type: str
    default: reforge_microseg
'''
