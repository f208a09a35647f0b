# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed failures of the vSphere layer; modules turn them into one fail_json."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class VsphereError(Exception):
    """Base class for vSphere access failures."""


class VsphereConnectError(VsphereError):
    """Login or TLS verification failed."""


class VmNotFound(VsphereError):
    """No VM with that name (or that instance UUID)."""


class VmAmbiguous(VsphereError):
    """More than one VM has that name (in other folders or datacenters): the caller must give the instance UUID."""

    def __init__(self, paths_by_name, hostname: str = "") -> None:
        self.paths = {name: sorted(paths) for name, paths in paths_by_name.items()}
        where = " on %s" % hostname if hostname else ""
        parts = ["%d VMs are named %r%s: %s" % (len(paths), name, where, ", ".join(paths))
                 for name, paths in sorted(self.paths.items())]
        super().__init__("%s; give the instance UUID of the VM meant (vm_uuid, or uuids: {name: instance UUID})"
                         % "; ".join(parts))


class VmIdentityMismatch(VsphereError):
    """The VM found by its instance UUID has another name than the one asked for."""


class TaskFailed(VsphereError):
    """A vSphere task ended in error or timed out."""


class ChangeIdInvalid(VsphereError):
    """CBT refused the changeId (Storage vMotion, disk growth, restore, CBT reset): resync from ``*``."""


class CoverageError(VsphereError):
    """The changed-area windows did not cover the disk contiguously: refuse to advance the changeId."""


class RangeReadError(VsphereError):
    """A datastore Range read failed in a way that retrying cannot fix (200 to a Range, wrong Content-Range)."""
