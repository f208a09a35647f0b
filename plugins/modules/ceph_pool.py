#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: ceph_pool
short_description: Replicated Ceph pool with its CRUSH rule and application
description:
  - Creates a replicated pool, or brings size, min_size, CRUSH rule and application of an existing one to the wanted values.
  - Creates the replicated CRUSH rule when it does not exist, with the given failure domain.
  - C(pg_num) is used only at creation; afterwards the PG autoscaler owns it.
  - Never deletes a pool.
version_added: "0.1.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  name:
    description: Pool name.
    type: str
    required: true
  size:
    description: Number of replicas.
    type: int
    required: true
  min_size:
    description: Replicas needed to serve I/O. Defaults to size minus one (at least 1).
    type: int
  pg_num:
    description: Initial number of placement groups.
    type: int
    default: 32
  crush_rule:
    description: Name of the replicated CRUSH rule for the pool.
    type: str
    default: replicated_rule
  failure_domain:
    description: Failure domain used when the CRUSH rule has to be created.
    type: str
    choices: [osd, host, rack, room]
    default: host
  application:
    description: Application tag (C(rbd) also runs C(rbd pool init) on a new pool).
    type: str
    default: rbd
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes
requirements:
  - ceph and rbd CLIs with an admin keyring on the host
'''

EXAMPLES = r'''
- name: Pool for VM disks, three copies on three hosts
  reforge.hci.ceph_pool:
    name: vms
    size: 3
    min_size: 2
    crush_rule: reforge_replicated
    failure_domain: host
'''

RETURN = r'''
pool:
  description: Pool settings after the run (what would be, in check mode).
  returned: always
  type: dict
commands:
  description: Ceph commands run (or that would run, in check mode).
  returned: always
  type: list
  elements: list
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reforge.hci.plugins.module_utils.platform.ceph import CephCli, CephCommandError


def plan_pool(params, pools, rules):
    """Return (before, after, commands) for the wanted pool. Pure: unit-tested."""
    name = params['name']
    min_size = params['min_size'] if params['min_size'] is not None else max(1, params['size'] - 1)
    if not 1 <= min_size <= params['size']:
        raise ValueError("min_size %s must be between 1 and size %s" % (min_size, params['size']))
    rule_ids = dict((r['rule_name'], r['rule_id']) for r in rules)
    commands = []
    if params['crush_rule'] not in rule_ids:
        commands.append(['osd', 'crush', 'rule', 'create-replicated', params['crush_rule'], 'default',
                         params['failure_domain']])
    current = next((p for p in pools if p['pool_name'] == name), None)
    after = dict(name=name, size=params['size'], min_size=min_size, crush_rule=params['crush_rule'],
                 applications=sorted(set(((current or {}).get('application_metadata') or {}).keys())
                                     | set([params['application']])))
    if current is None:
        before = {}
        after['pg_num'] = params['pg_num']
        commands.append(['osd', 'pool', 'create', name, str(params['pg_num']), str(params['pg_num']),
                         'replicated', params['crush_rule']])
        commands.append(['osd', 'pool', 'set', name, 'size', str(params['size'])])
        commands.append(['osd', 'pool', 'set', name, 'min_size', str(min_size)])
        commands.append(['osd', 'pool', 'application', 'enable', name, params['application']])
        return before, after, commands
    rule_names = dict((v, k) for k, v in rule_ids.items())
    before = dict(name=name, size=current['size'], min_size=current['min_size'],
                  crush_rule=rule_names.get(current['crush_rule'], str(current['crush_rule'])),
                  applications=sorted((current.get('application_metadata') or {}).keys()))
    after['pg_num'] = before['pg_num'] = current.get('pg_num')
    if before['crush_rule'] != after['crush_rule']:
        commands.append(['osd', 'pool', 'set', name, 'crush_rule', params['crush_rule']])
    # Growing: size before min_size; shrinking: min_size first, so that
    # min_size <= size holds after every step.
    size_steps = [('size', params['size']), ('min_size', min_size)]
    if params['size'] < current['size']:
        size_steps.reverse()
    for key, value in size_steps:
        if current[key] != value:
            commands.append(['osd', 'pool', 'set', name, key, str(value)])
    if params['application'] not in before['applications']:
        commands.append(['osd', 'pool', 'application', 'enable', name, params['application']])
    return before, after, commands


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            size=dict(type='int', required=True),
            min_size=dict(type='int'),
            pg_num=dict(type='int', default=32),
            crush_rule=dict(type='str', default='replicated_rule'),
            failure_domain=dict(type='str', default='host', choices=['osd', 'host', 'rack', 'room']),
            application=dict(type='str', default='rbd'),
        ),
        supports_check_mode=True,
    )
    cli = CephCli(module)
    try:
        pools = cli.ceph_json('osd', 'pool', 'ls', 'detail') or []
        rules = cli.ceph_json('osd', 'crush', 'rule', 'dump') or []
        before, after, commands = plan_pool(module.params, pools, rules)
        new_pool = not before
        if commands and not module.check_mode:
            for command in commands:
                cli.ceph(*command)
            if new_pool and module.params['application'] == 'rbd':
                cli.rbd('pool', 'init', module.params['name'])
    except ValueError as exc:
        module.fail_json(msg="ceph_pool %s: %s" % (module.params['name'], exc))
    except CephCommandError as exc:
        module.fail_json(msg=str(exc), rc=exc.rc)
    result = dict(changed=bool(commands), pool=after, commands=commands)
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
