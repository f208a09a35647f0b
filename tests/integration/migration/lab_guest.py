"""What the lab's guests do, through the lab vCenter's /_lab API: make their disk bootable, write data.

  lab_guest.py boot <vm>                  write a bootable image at the start of the VM's first disk
                                          (a UEFI app on a FAT ESP for EFI VMs, an MBR boot sector for BIOS)
  lab_guest.py write <vm> <offset> <len>  write random data (a guest's changes between syncs)

Reads the lab vCenter description from $REFORGE_LAB_DIR/vcsim.json.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path[:0] = [os.path.join(REPO, "build", "collections"), os.path.join(REPO, "tests"), HERE]

from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops  # noqa: E402
from migration_bootdisk import bootable_image  # noqa: E402
from migration_labvc import LabVC  # noqa: E402


def main(argv):
    lab_dir = os.environ.get("REFORGE_LAB_DIR") or os.path.join(REPO, ".lab")
    with open(os.path.join(lab_dir, "vcsim.json")) as handle:
        vc = LabVC(json.load(handle))
    command, name = argv[0], argv[1]
    conn = vc.connect()
    try:
        facts = vmops.vm_facts(conn, vmops.find_vm(conn, name))
        key = facts["disks"][0]["key"]
    finally:
        conn.close()
    if command == "boot":
        written = 0
        for offset, data in bootable_image(efi=facts["firmware"] == "efi"):
            vc.write(name, key, offset, data)
            written += len(data)
        print(json.dumps({"vm": name, "disk": key, "bytes": written}))
    elif command == "write":
        offset, length = int(argv[2]), int(argv[3])
        print(json.dumps(vc.write(name, key, offset, os.urandom(length))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
