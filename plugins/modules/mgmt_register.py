#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: mgmt_register
short_description: Register campus clusters with a management plane, or deregister them
description:
  - Enrols each campus cluster in the management plane its C(adapter) names, idempotently; C(state=absent) removes exactly that campus.
  - Every campus is checked and planned before the first change, so bad input changes nothing.
  - Check mode writes nothing and returns the planned change as the diff.
  - "Adapters: C(prometheus) (Prometheus + Alertmanager on a management host: file_sd targets, alert rules, a route per campus)
    and C(cloudtower) (SmartX CloudTower through cloudtower-sdk: campus datacenter, connected cluster)."
version_added: "0.2.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  state:
    description: C(present) registers or updates, C(absent) deregisters.
    type: str
    choices: [present, absent]
    default: present
  campuses:
    description: The campus clusters to register.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Campus name (lower-case letters, digits, C(-), C(_)); the C(campus) label.
        type: str
        required: true
      cluster:
        description: Cluster name; the C(cluster) label. One campus is one cluster.
        type: str
        required: true
      adapter:
        description: The management plane of this campus.
        type: str
        default: prometheus
      targets:
        description: "Prometheus: exporter (C(node), C(libvirt), C(ceph), C(pacemaker)) to a list of C(host:port)."
        type: dict
      receiver:
        description: "Prometheus: the campus's Alertmanager receiver (e.g. C(webhook_configs)); its name is set to C(campus-<name>)."
        type: dict
      route:
        description: "Prometheus: extra settings for the campus's route (C(group_wait), C(repeat_interval), ...)."
        type: dict
      alert_for:
        description: "Prometheus: C(for:) windows per alert kind for this campus (overrides the plane's)."
        type: dict
      thresholds:
        description: "Prometheus: alert thresholds for this campus (C(disk_wear_percent), C(commit_latency_ms), C(fencing_window))."
        type: dict
      datacenter:
        description: "CloudTower: the datacenter to put the cluster in; defaults to the campus name."
        type: str
      cluster_ip:
        description: "CloudTower: management address of the cluster to connect."
        type: str
      cluster_username:
        description: "CloudTower: user on the cluster."
        type: str
      cluster_password:
        description: "CloudTower: password of that user."
        type: str
  prometheus:
    description:
      - "The Prometheus plane: C(sd_dir), C(rules_dir), C(routes_dir), C(alertmanager_config) (paths on the management host),
        C(prometheus_url), C(alertmanager_url), optional C(promtool), C(amtool), C(alert_for), C(thresholds),
        C(alertmanager_base), C(ca_path), C(timeout)."
    type: dict
  cloudtower:
    description:
      - "The CloudTower plane: C(url), C(username), C(password), optional C(organization), C(ca_path), C(task_timeout), C(poll_interval)."
    type: dict
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes
requirements:
  - PyYAML; promtool and amtool (prometheus adapter); cloudtower-sdk (cloudtower adapter)
'''

EXAMPLES = r'''
- name: Register the north campus with the campus-wide Prometheus
  reforge.hci.mgmt_register:
    campuses:
      - name: north
        cluster: hci1
        targets:
          node: ["10.1.0.11:9100", "10.1.0.12:9100"]
          ceph: ["10.1.0.11:9283"]
        receiver:
          webhook_configs:
            - url: https://pager.example.org/north
    prometheus:
      sd_dir: /etc/prometheus/reforge/targets
      rules_dir: /etc/prometheus/reforge/rules
      routes_dir: /etc/prometheus/reforge/routes
      alertmanager_config: /etc/prometheus/alertmanager.yml
      prometheus_url: http://127.0.0.1:9090
      alertmanager_url: http://127.0.0.1:9093
'''

RETURN = r'''
campuses:
  description: Per campus, the changes made (or that would be made in check mode).
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reforge.hci.plugins.module_utils.mgmt import registry


def main():
    campus_spec = dict(
        name=dict(type="str", required=True), cluster=dict(type="str", required=True),
        adapter=dict(type="str", default="prometheus"), targets=dict(type="dict"), receiver=dict(type="dict"),
        route=dict(type="dict"), alert_for=dict(type="dict"), thresholds=dict(type="dict"), datacenter=dict(type="str"),
        cluster_ip=dict(type="str"), cluster_username=dict(type="str"), cluster_password=dict(type="str", no_log=True))
    module = AnsibleModule(
        argument_spec=dict(state=dict(type="str", choices=["present", "absent"], default="present"),
                           campuses=dict(type="list", elements="dict", required=True, options=campus_spec),
                           prometheus=dict(type="dict"), cloudtower=dict(type="dict", no_log=False)),
        supports_check_mode=True)
    ct = module.params.get("cloudtower") or {}
    if ct.get("password"):
        module.no_log_values.add(ct["password"])
    planes = {"prometheus": module.params.get("prometheus"), "cloudtower": ct}
    try:
        changed, results, diffs = registry.run(module.params["campuses"], module.params["state"], planes, module.check_mode)
    except registry.Refusal as exc:
        module.fail_json(msg="refused before any change: %s" % exc)
    except registry.MgmtError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, campuses=results, diff=diffs)


if __name__ == "__main__":
    main()
