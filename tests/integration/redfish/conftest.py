"""The Redfish integration tests' fixtures (defined in redfish_lab) for every test module here."""
from __future__ import annotations

from redfish_lab import bmc, fleet, image_server

__all__ = ["bmc", "fleet", "image_server"]
