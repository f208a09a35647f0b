"""Redfish error responses (DSP0266 §"Error responses") raised by the simulator."""
from __future__ import annotations

from typing import Any

BASE = "Base.1.12"

# Message texts of DMTF's Base registry for the ids we emit.
_BASE_MESSAGES = {
    "ResourceNotFound": "The requested resource of type %1 named '%2' was not found.",
    "PreconditionFailed": "The ETag supplied did not match the ETag required to change this resource.",
    "PreconditionRequired": "A precondition header or annotation is required to change this resource.",
    "PropertyNotWritable": "The property '%1' is a read-only property and cannot be assigned a value.",
    "PropertyUnknown": "The property '%1' is not in the list of valid properties for the resource.",
    "PropertyValueNotInList": "The value '%1' for the property %2 is not in the list of acceptable values.",
    "ActionParameterMissing": "The action %1 requires the parameter %2 to be present in the request body.",
    "ActionParameterValueNotInList": "The value '%1' for the parameter %2 in the action %3 is not in the list of acceptable values.",
    "ActionNotSupported": "The action %1 is not supported by the resource.",
    "OperationNotAllowed": "The HTTP method is not allowed on this resource.",
    "NoValidSession": "There is no valid session established with the implementation.",
    "InsufficientPrivilege": ("There are insufficient privileges for the account or credentials associated with the current session "
                              "to perform the requested operation."),
    "ResourceInUse": "The change to the requested resource failed because the resource is in use or in transition.",
    "InternalError": "The request failed due to an internal service error.  The service is still operational.",
    "ServiceTemporarilyUnavailable": "The service is temporarily unavailable.  Retry in %1 seconds.",
    "MalformedJSON": "The request body submitted was malformed JSON and could not be parsed by the receiving service.",
    "ResetRequired": "In order to complete the operation, a component reset is required with the Reset action URI '%1' and ResetType '%2'.",
    "Success": "The request completed successfully.",
    "SessionLimitExceeded": ("The session establishment failed due to the number of simultaneous sessions exceeding "
                             "the limit of the implementation."),
    "PropertyValueOutOfRange": "The value '%1' for the property %2 is not in the supported range of acceptable values.",
    "PropertyValueTypeError": "The value '%1' for the property %2 is of a different type than the property can accept.",
    "PropertyValueFormatError": "The value '%1' for the property %2 is of a different format than the property can accept.",
    "GeneralError": ("A general error has occurred.  See Resolution for information on how to resolve the error, "
                     "or @Message.ExtendedInfo if Resolution is not provided."),
}


def base_message(name: str, *args: Any, severity: str = "Warning") -> dict:
    text = _BASE_MESSAGES.get(name, name)
    for i, arg in enumerate(args, 1):
        text = text.replace(f"%{i}", str(arg))
    return {
        "@odata.type": "#Message.v1_1_1.Message",
        "MessageId": f"{BASE}.{name}",
        "Message": text,
        "MessageArgs": [str(a) for a in args],
        "Severity": severity,
        "MessageSeverity": severity,
    }


class RedfishError(Exception):
    """An HTTP error with a Redfish error body; the server turns it into a response."""

    def __init__(self, status: int, messages: list[dict], headers: dict[str, str] | None = None) -> None:
        super().__init__(messages[0]["MessageId"] if messages else str(status))
        self.status = status
        self.messages = messages
        self.headers = headers or {}

    def body(self) -> dict:
        first = self.messages[0] if self.messages else base_message("GeneralError")
        return {"error": {
            "code": first["MessageId"],
            "message": first["Message"],
            "@Message.ExtendedInfo": self.messages,
        }}


def fail(status: int, name: str, *args: Any, headers: dict[str, str] | None = None) -> RedfishError:
    return RedfishError(status, [base_message(name, *args, severity="Critical" if status >= 500 else "Warning")], headers)


def vendor_fail(status: int, message_id: str, message: str, resolution: str = "") -> RedfishError:
    """An error carrying a vendor registry id (e.g. iDRAC's IDRAC.2.8.RAC0679)."""
    msg = {"MessageId": message_id, "Message": message, "MessageArgs": [], "Severity": "Warning",
           "Resolution": resolution}
    return RedfishError(status, [msg])
