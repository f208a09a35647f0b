# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""migration_cutover: the module runs as an async job on its host; the final sync's per-disk progress shows in the job output."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.reforge.hci.plugins.plugin_utils.progress_action import ProgressAction


class ActionModule(ProgressAction):
    """See plugins/plugin_utils/progress_action.py."""
