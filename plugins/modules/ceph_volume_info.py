#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: ceph_volume_info
short_description: List the OSDs ceph-volume made on this host
description:
  - Runs C(ceph-volume raw list) or C(ceph-volume lvm list) and returns one flat list for both modes.
version_added: "0.1.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  mode:
    description: ceph-volume mode.
    type: str
    choices: [raw, lvm]
    required: true
  devices:
    description:
      - Devices to look at (raw mode scans only these). Symlinks such as C(/dev/disk/by-id/...) are resolved.
      - In lvm mode the result is filtered to these devices when given.
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes.info_module
'''

EXAMPLES = r'''
- name: OSDs on the planned disks
  reforge.hci.ceph_volume_info:
    mode: raw
    devices: [/dev/disk/by-id/wwn-0x5000c500a1b2c3d4]
  register: osds
'''

RETURN = r'''
osds:
  description: OSDs found.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: OSD id, type: int}
    uuid: {description: OSD uuid, type: str}
    device: {description: kernel device path, type: str}
    cluster_fsid: {description: fsid of the cluster the OSD belongs to, type: str}
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reforge.hci.plugins.module_utils.platform.ceph import CephCli, CephCommandError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type='str', required=True, choices=['raw', 'lvm']),
            devices=dict(type='list', elements='path', default=[]),
        ),
        supports_check_mode=True,
    )
    devices = [os.path.realpath(d) for d in module.params['devices']]
    try:
        osds = CephCli(module).volume_list(module.params['mode'], devices)
    except (CephCommandError, ValueError, KeyError) as exc:
        module.fail_json(msg="could not list OSDs: %s" % exc)
    if devices:
        osds = [o for o in osds if os.path.realpath(o['device']) in devices]
    module.exit_json(changed=False, osds=osds)


if __name__ == '__main__':
    main()
