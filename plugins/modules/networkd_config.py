#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: networkd_config
short_description: Bring a node's systemd-networkd directory to the rendered campus network files
description:
  - Writes the files that M(reforge.hci.networkd_config) is given (the output of the C(reforge.hci.networkd_files)
    filter, each starting with its marker line) into O(path), and removes the files with that marker that are no
    longer given. Files without the marker are never touched.
  - Refuses, before writing anything, files given under a name that is not a plain C(.network) or C(.netdev) name,
    files without the marker line, and every file not made here that would fight the plan - one of the same name,
    a C(.network) that matches a planned interface name (globs and C(!) as systemd reads them) or MAC or that has no
    C([Match]) at all, a C(.netdev) creating a planned interface - and ifupdown stanzas (C(iface), C(auto),
    C(allow-*)) for a planned interface, each with its path.
  - Does not reload systemd-networkd - the host_network role activates the files under a rollback timer. Returns the
    netdevs whose C(.netdev) changed or went, which must be deleted to take the new settings.
version_added: "0.3.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  files:
    description: File name to content, as C(reforge.hci.networkd_files) renders one node's plan.
    type: dict
    required: true
  path:
    description: The systemd-networkd directory.
    type: path
    default: /etc/systemd/network
  interfaces:
    description:
      - More planned interface names - the bond members' names on this node. The files match members by MAC, but a
        file left by the installer names them (C(Name=enp1s0)).
    type: list
    elements: str
    default: []
  replace:
    description:
      - Names of files in O(path) not made here that this change may remove (an installer's file for the NIC that
        becomes a bond member). They are removed with the change and, by the role, restored by a rollback.
    type: list
    elements: str
    default: []
  ifupdown:
    description: ifupdown's configuration, checked for stanzas of planned interfaces; a missing file is fine.
    type: path
    default: /etc/network/interfaces
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes
'''

EXAMPLES = r'''
- name: Write node1's networkd files (not active until networkd reloads)
  reforge.hci.networkd_config:
    files: "{{ (campus_network | reforge.hci.network_plan(nic_facts))['node1'] | reforge.hci.networkd_files }}"
    interfaces: [enp1s0, enp2s0, enp3s0, enp4s0]
'''

RETURN = r'''
written:
  description: Files written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Files removed (ours no longer planned, and replaced ones).
  returned: always
  type: list
  elements: str
unchanged:
  description: Given files already as rendered.
  returned: always
  type: list
  elements: str
netdevs:
  description: Netdevs whose .netdev file changed or went - delete them and reload to take the change.
  returned: always
  type: list
  elements: str
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.reforge.hci.plugins.module_utils.network.networkd import (
    MARKER, bad_file_names, changes, conflicts, diff, ours, read_dir)


def _write(path, name, text):
    fd, tmp = tempfile.mkstemp(prefix=".reforge-", dir=path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(to_bytes(text))
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(path, name))
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type='dict', required=True),
            path=dict(type='path', default='/etc/systemd/network'),
            interfaces=dict(type='list', elements='str', default=[]),
            replace=dict(type='list', elements='str', default=[]),
            ifupdown=dict(type='path', default='/etc/network/interfaces'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    files = dict((str(k), str(v)) for k, v in p['files'].items())
    refused = ["files.%s: not a .network or .netdev file name" % n for n in bad_file_names(files)]
    refused += ["files.%s: does not start with the marker line %r (render with reforge.hci.networkd_files)" % (n, MARKER)
                for n in sorted(files) if not ours(files[n])]
    current = read_dir(p['path'])
    ifupdown_text = None
    if os.path.isfile(p['ifupdown']):
        with open(p['ifupdown'], 'rb') as fh:
            ifupdown_text = fh.read().decode('utf-8', 'replace')
    if not refused:
        refused = conflicts(p['path'], current, files, interfaces=p['interfaces'], ifupdown_text=ifupdown_text,
                            ifupdown_path=p['ifupdown'], replace=p['replace'])
    if refused:
        module.fail_json(msg="networkd_config: refused, nothing was written:\n  " + "\n  ".join(refused), refused=refused)
    change = changes(current, files, replace=p['replace'])
    changed = bool(change['write'] or change['remove'])
    if changed and not module.check_mode:
        if not os.path.isdir(p['path']):
            os.makedirs(p['path'], 0o755)
        for name in change['write']:
            _write(p['path'], name, files[name])
        for name in change['remove']:
            os.unlink(os.path.join(p['path'], name))
    result = dict(changed=changed, written=change['write'], removed=change['remove'], unchanged=change['unchanged'],
                  netdevs=change['netdevs'])
    if module._diff:
        result['diff'] = diff(p['path'], current, files, change)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
