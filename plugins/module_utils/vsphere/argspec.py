# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared argument spec of the vSphere modules (paired with doc_fragments/vsphere.py) and the one place
where typed exceptions become ``fail_json``."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import traceback
from typing import Any, Callable, Dict

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import MigrationError
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import connection as vconn, host_read
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import VsphereError


def vsphere_argument_spec() -> Dict[str, Any]:
    return dict(
        hostname=dict(type="str", required=True, fallback=(env_fallback, ["VMWARE_HOST"])),
        username=dict(type="str", required=True, aliases=["user"], fallback=(env_fallback, ["VMWARE_USER"])),
        password=dict(type="str", required=True, no_log=True, aliases=["pass", "pwd"],
                      fallback=(env_fallback, ["VMWARE_PASSWORD"])),
        port=dict(type="int", default=443, fallback=(env_fallback, ["VMWARE_PORT"])),
        validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["VMWARE_VALIDATE_CERTS"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["VMWARE_CA_PATH"])),
        timeout=dict(type="int", default=60),
    )


def vm_disk_target_argument_spec() -> Dict[str, Any]:
    """The vSphere connection plus the VM and where its disks are journalled and
    written: shared by every module that copies a VM's disks (sync, cutover)."""
    spec = vsphere_argument_spec()
    spec.update(
        vm=dict(type="str", required=True),
        vm_uuid=dict(type="str"),
        journal_dir=dict(type="path", required=True),
        targets=dict(type="dict", default={}),
        target_dir=dict(type="path"),
        target_format=dict(type="str", choices=["raw", "qcow2", "rbd"], default="raw"),
        target_pool=dict(type="str", default="vms"),
        read_via=dict(type="str", choices=list(host_read.READ_VIA), default="vcenter"),
        esxi_host_addresses=dict(type="dict", default={}),
        esxi_ticket_uses=dict(type="int", default=1),
    )
    return spec


def progress_argument_spec() -> Dict[str, Any]:
    """Where a copy reports its progress and how often the action plugin prints it (doc fragment
    reforge.hci.vm_disk_target.progress)."""
    return dict(progress_path=dict(type="path"), progress_interval=dict(type="int", default=30),
                progress_token=dict(type="str", no_log=False))


def connect(module: AnsibleModule) -> vconn.VsphereConnection:
    if vconn.PYVMOMI_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pyvmomi"), exception=vconn.PYVMOMI_IMPORT_ERROR)
    p = module.params
    try:
        access = host_read.DatastoreAccess.from_params(p) if "read_via" in p else None
    except VsphereError as exc:
        module.fail_json(msg=str(exc))
    conn = vconn.VsphereConnection(p["hostname"], p["username"], p["password"], port=p["port"],
                                   validate_certs=p["validate_certs"], ca_path=p["ca_path"], timeout=p["timeout"])
    # The sync readers of this connection follow the module's read options (sync and cutover alike).
    conn.datastore_access = access
    return conn


def run_module(module: AnsibleModule, body: Callable[[AnsibleModule], Dict[str, Any]]) -> None:
    """Run ``body`` and exit; migration and vSphere failures become one clear ``fail_json``."""
    faults = (VsphereError, MigrationError) if vconn.PYVMOMI_IMPORT_ERROR else (
        VsphereError, MigrationError, vconn.vmodl.MethodFault)
    try:
        result = body(module)
    except faults as exc:
        # pyVmomi faults carry their text in .msg; ours in str()
        module.fail_json(msg="%s: %s" % (type(exc).__name__, getattr(exc, "msg", None) or exc),
                         exception=traceback.format_exc())
    module.exit_json(**result)
