# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    # Kept in sync with plugins/module_utils/vsphere/argspec.py:vsphere_argument_spec().
    DOCUMENTATION = r'''
options:
  hostname:
    description:
      - vCenter or ESXi host name or address.
      - Falls back to the E(VMWARE_HOST) environment variable.
    type: str
    required: true
  username:
    description:
      - User name to log in with. Falls back to E(VMWARE_USER).
    type: str
    required: true
    aliases: [user]
  password:
    description:
      - Password of O(username). Falls back to E(VMWARE_PASSWORD).
    type: str
    required: true
    aliases: [pass, pwd]
  port:
    description:
      - HTTPS port of the SOAP endpoint and of the datastore C(/folder) endpoint. Falls back to E(VMWARE_PORT).
    type: int
    default: 443
  validate_certs:
    description:
      - Verify the server certificate. Only disable for throwaway labs.
      - Falls back to E(VMWARE_VALIDATE_CERTS).
    type: bool
    default: true
  ca_path:
    description:
      - PEM bundle of the CA that signed the vCenter certificate; replaces the system trust store when set.
      - Falls back to E(VMWARE_CA_PATH).
    type: path
  timeout:
    description:
      - Timeout in seconds of one HTTP connection to vCenter.
    type: int
    default: 60
requirements:
  - pyvmomi (Debian C(python3-pyvmomi) on cluster nodes)
  - requests
attributes:
  action_group:
    description: Use C(group/reforge.hci.vsphere) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - reforge.hci.vsphere
'''
