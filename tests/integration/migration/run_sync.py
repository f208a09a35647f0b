"""Run one VmSync in its own process (so a test can kill -9 it): argv[1] is a JSON job description."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path[:0] = [os.path.join(REPO, "build", "collections"), os.path.join(REPO, "tests"), HERE]

from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings  # noqa: E402
from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import VmSync  # noqa: E402
from migration_labvc import LabVC  # noqa: E402


def main():
    job = json.loads(sys.argv[1])
    conn = LabVC(job["vcsim"]).connect()
    result = VmSync(conn, job["vm"], job["targets"], job["journal_dir"], CopySettings(**job["settings"]),
                    progress_path=job.get("progress")).run()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
