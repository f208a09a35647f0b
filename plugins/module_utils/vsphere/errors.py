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
    """No VM with that name."""


class TaskFailed(VsphereError):
    """A vSphere task ended in error or timed out."""


class ChangeIdInvalid(VsphereError):
    """CBT refused the changeId (Storage vMotion, disk growth, restore, CBT reset): resync from ``*``."""


class CoverageError(VsphereError):
    """The changed-area windows did not cover the disk contiguously: refuse to advance the changeId."""


class RangeReadError(VsphereError):
    """A datastore Range read failed in a way that retrying cannot fix (200 to a Range, wrong Content-Range)."""
