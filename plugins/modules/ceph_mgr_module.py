#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: ceph_mgr_module
short_description: Enable or disable a Ceph manager module
description:
  - Reads C(ceph mgr module ls) and runs C(ceph mgr module enable|disable) only when the state differs.
  - Always-on modules count as enabled and cannot be disabled.
version_added: "0.1.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  name:
    description: Module name, for example C(prometheus).
    type: str
    required: true
  state:
    description: Wanted state.
    type: str
    choices: [enabled, disabled]
    default: enabled
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes
requirements:
  - ceph CLI with an admin keyring on the host
'''

EXAMPLES = r'''
- name: Expose metrics to Prometheus
  reforge.hci.ceph_mgr_module:
    name: prometheus
'''

RETURN = r'''
enabled_modules:
  description: Enabled modules after the change (before it in check mode).
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reforge.hci.plugins.module_utils.platform.ceph import CephCli, CephCommandError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='enabled', choices=['enabled', 'disabled']),
        ),
        supports_check_mode=True,
    )
    name, state = module.params['name'], module.params['state']
    cli = CephCli(module)
    try:
        listing = cli.ceph_json('mgr', 'module', 'ls')
        always_on = set(listing.get('always_on_modules', []))
        enabled = set(listing.get('enabled_modules', [])) | always_on
        if state == 'disabled' and name in always_on:
            module.fail_json(msg="mgr module %s is always on and cannot be disabled" % name)
        was_enabled = name in enabled
        changed = was_enabled != (state == 'enabled')
        if changed and not module.check_mode:
            cli.ceph('mgr', 'module', 'enable' if state == 'enabled' else 'disable', name)
            enabled = enabled | {name} if state == 'enabled' else enabled - {name}
    except CephCommandError as exc:
        module.fail_json(msg=str(exc), rc=exc.rc)
    result = dict(changed=changed, enabled_modules=sorted(enabled))
    if module._diff:
        result['diff'] = dict(before={name: 'enabled' if was_enabled else 'disabled'}, after={name: state})
    module.exit_json(**result)


if __name__ == '__main__':
    main()
