#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: bmc_virtual_media
short_description: Insert or eject a virtual CD/DVD (or USB) image through the BMC
version_added: 0.1.0
description:
  - Finds the virtual media slots under the system (newer services) or the manager (older iDRAC, iLO),
    picks the first slot that takes the media type, and inserts the image with C(VirtualMedia.InsertMedia)
    (or a PATCH where the action is missing). Ejects with C(VirtualMedia.EjectMedia).
  - A slot that already holds O(image) is left alone (idempotent).
extends_documentation_fragment:
  - reforge.hci.redfish
  - reforge.hci.redfish.action_group
  - reforge.hci.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
options:
  image:
    description: URL of the image the BMC fetches (HTTP/HTTPS/NFS/CIFS as the BMC supports). Required to insert.
    type: str
  state:
    description: V(inserted) or V(ejected). Ejecting without O(image) ejects every inserted slot.
    type: str
    default: inserted
    choices: [inserted, ejected]
  media_type:
    description: Media type the slot must accept.
    type: str
    default: CD
    choices: [CD, DVD, USBStick, Floppy]
  write_protected:
    description: Insert the image read-only.
    type: bool
    default: true
  replace:
    description:
      - When every slot for O(media_type) holds another image, eject it and insert O(image).
      - Without it the module fails rather than remove media someone else attached.
    type: bool
    default: false
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: Attach the unattended installer ISO
  reforge.hci.bmc_virtual_media:
    endpoint: "{{ bmc_endpoint }}"
    image: "https://deploy.example.org/debian-13-{{ inventory_hostname }}.iso"
    state: inserted
  delegate_to: localhost
'''

RETURN = r'''
slot:
  description: The virtual media resource used.
  returned: changed
  type: str
  sample: /redfish/v1/Managers/1/VirtualMedia/2
'''

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishError
from ansible_collections.reforge.hci.plugins.module_utils.redfish.module import RedfishModule, change_result
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.generic import odata_id


def _view(slots):
    return dict((odata_id(s), dict(image=s.get("Image") or None, inserted=bool(s.get("Inserted"))))
                for s in slots)


def set_media(bmc, params, check_mode):
    slots = bmc.virtual_media_slots()
    before = _view(slots)
    after = dict((k, dict(v)) for k, v in before.items())
    image = params["image"]
    used = None
    if params["state"] == "inserted":
        if not image:
            raise RedfishError("image is required to insert virtual media")
        holding = [s for s in slots if s.get("Inserted") and s.get("Image") == image]
        if not holding:
            candidates = [s for s in slots if params["media_type"] in (s.get("MediaTypes") or [params["media_type"]])]
            free = [s for s in candidates if not s.get("Inserted")]
            if not free and not (params["replace"] and candidates):
                raise RedfishError("no free virtual media slot for %s on %s: %s (eject it, or set replace: true)"
                                   % (params["media_type"], bmc.client.endpoint,
                                      ", ".join("%s holds %s" % (s.get("Id"), s.get("Image")) for s in candidates)
                                      or "no slot takes this media type"))
            used = (free or candidates)[0]
            after[odata_id(used)] = dict(image=image, inserted=True)
            if not check_mode:
                if used.get("Inserted"):
                    bmc.eject_media(used)
                bmc.insert_media(used, image, params["write_protected"])
    else:
        for slot in slots:
            if slot.get("Inserted") and (not image or slot.get("Image") == image):
                after[odata_id(slot)] = dict(image=None, inserted=False)
                used = slot
                if not check_mode:
                    bmc.eject_media(slot)
    return change_result(before, after, slot=odata_id(used) if used else None)


def main():
    rm = RedfishModule(dict(image=dict(type="str"),
                            state=dict(type="str", default="inserted", choices=["inserted", "ejected"]),
                            media_type=dict(type="str", default="CD", choices=["CD", "DVD", "USBStick", "Floppy"]),
                            write_protected=dict(type="bool", default=True),
                            replace=dict(type="bool", default=False)),
                       supports_check_mode=True, required_if=[("state", "inserted", ["image"])])
    rm.run(lambda bmc: set_media(bmc, rm.params, rm.check_mode))


if __name__ == "__main__":
    main()
