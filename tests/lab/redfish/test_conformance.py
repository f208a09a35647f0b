"""DMTF's redfish-service-validator (offline, local CSDL) finds no failures on what we serve.

The suite runs the trees assembled in this repository (Dell, xFusion: ~40 s); the HPE and
DMTF mockup templates take minutes each and run when REFORGE_CONFORMANCE_ALL=1 (or with
``python -m lab.redfish.conformance``)."""
from __future__ import annotations

import os

import pytest

from lab.redfish.conformance import run
from lab.redfish.profiles import PROFILES

SUITE = ["dell-r640-h730p", "xfusion-2288h-v6"]
TEMPLATES = list(PROFILES) if os.environ.get("REFORGE_CONFORMANCE_ALL") else SUITE


@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES)
def test_service_validator_reports_no_failures(template, pki, tmp_path):
    result = run([template], pki["cert"], pki["key"], pki["ca"], tmp_path)[template]
    print(f"\n{template}: pass {result['pass']} warn {result['warn']} fail {result['fail']} in {result['seconds']}s")
    assert result["pass"] > 500, "the validator walked the tree"
    assert result["fail"] == 0, "\n".join(result["failures"][:40])
