# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One exception hierarchy for everything that can go wrong talking to a BMC.

Modules turn these into a single clear ``fail_json`` (see ``module.py``); the
inventory plugin turns them into per-host warnings. Nothing below ever carries a
password or a session token in its message.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class RedfishError(Exception):
    """Base of every error raised by the Redfish client."""

    def __init__(self, message, **details):
        super(RedfishError, self).__init__(message)
        self.message = message
        self.details = details

    def to_dict(self):
        return dict(self.details, error_class=type(self).__name__)


class RedfishConnectionError(RedfishError):
    """The BMC could not be reached (DNS, TCP, TLS)."""


class RedfishTLSError(RedfishConnectionError):
    """The BMC's certificate could not be verified."""


class RedfishEndpointError(RedfishConnectionError):
    """The endpoint is wrong, not the network: nothing listens on the port (at first contact), the URL's
    scheme is not http/https, the host name does not resolve, or the port speaks the other protocol
    (plain HTTP on a TLS port, TLS on a plain-HTTP port). Never retried."""


class RedfishWriteUncertain(RedfishConnectionError):
    """A write reached the network but its answer was lost (read timeout, connection reset after sending,
    502/504 from a proxy): it may have taken effect. It is never sent again blindly; the operation reads
    the state back and decides (see ``writes.settle_write``)."""


class RedfishTimeoutError(RedfishError):
    """A request or a long-running task/job did not finish in time."""


class RedfishAuthError(RedfishError):
    """Credentials were rejected (and re-login did not help)."""


class RedfishHTTPError(RedfishError):
    """The service answered with an HTTP error status."""

    def __init__(self, message, status=None, message_ids=None, uri=None, method=None, **details):
        super(RedfishHTTPError, self).__init__(
            message, status=status, message_ids=list(message_ids or []), uri=uri, method=method, **details)
        self.status = status
        self.message_ids = list(message_ids or [])
        self.uri = uri
        self.method = method


class RedfishPreconditionFailed(RedfishHTTPError):
    """412: the ETag we sent no longer matches (the resource changed under us)."""


class RedfishBusyError(RedfishHTTPError):
    """The BMC is busy (Dell RAC0679, 503) and retries did not outlast it."""


class RedfishTaskFailed(RedfishError):
    """A task monitor or a vendor job ended in an error state."""

    def __init__(self, message, component=None, task_uri=None, state=None, messages=None):
        super(RedfishTaskFailed, self).__init__(
            message, component=component, task_uri=task_uri, state=state, messages=list(messages or []))
        self.component = component


class RedfishUnsupported(RedfishError):
    """The requested change cannot be made over Redfish on this vendor/controller."""

    def __init__(self, message, vendor=None, operation=None, advice=None):
        full = message if not advice else "%s %s" % (message, advice)
        super(RedfishUnsupported, self).__init__(full, vendor=vendor, operation=operation, advice=advice)


class RedfishInvalidValue(RedfishError):
    """A value the BMC would refuse (a BIOS value outside its Attribute Registry), caught before it is sent."""


class RedfishDataLossRefused(RedfishError):
    """The change would destroy existing volumes and allow_data_loss is false."""


class RedfishNotFound(RedfishHTTPError):
    """A resource the operation needs does not exist on this service."""
