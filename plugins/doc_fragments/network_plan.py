# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    # The node's network plan, for every module of stage 3 that reads or checks a node against it.
    DOCUMENTATION = r'''
options:
  plan:
    description: The node's plan, an entry of C(reforge.hci.network_plan)'s result.
    type: dict
    required: true
'''
