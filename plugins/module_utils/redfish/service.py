# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pick the vendor adapter for a service from what its service root (and manager) report."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishError
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.dell import DellAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.generic import GenericAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.hpe import HpeAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.lenovo import LenovoAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.supermicro import SupermicroAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.xfusion import XFusionAdapter

VENDOR_ADAPTERS = (DellAdapter, HpeAdapter, XFusionAdapter, LenovoAdapter, SupermicroAdapter)


def adapter_class(root, manager=None):
    """The adapter class for a service root (and, when the root is silent, its manager)."""
    for cls in VENDOR_ADAPTERS:
        if cls.matches(root, manager or {}):
            return cls
    return GenericAdapter


def BMC(client, poller=None):
    """A vendor adapter bound to a logged-in client."""
    cls = adapter_class(client.root)
    if cls is GenericAdapter:
        try:
            cls = adapter_class(client.root, client.get(client.manager_uri, cached=True))
        except RedfishError:
            pass  # no manager resource: stay generic
    return cls(client, poller)
