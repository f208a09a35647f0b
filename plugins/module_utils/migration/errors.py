# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed failures of the migration engine; modules turn them into one fail_json."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class MigrationError(Exception):
    """Base class: anything the engine refuses or cannot do."""


class TargetWriteError(MigrationError):
    """The target (file, qcow2, RBD image) refused a write or a flush."""


class JournalError(MigrationError):
    """The sync journal is unreadable or belongs to another VM/disk."""


class VerificationError(MigrationError):
    """Source and target checksums differ."""


class CutoverError(MigrationError):
    """A cutover step failed; the caller rolls back."""
