"""The connector's failures, each carrying the exit code a script sees.

    ConnectorError                 exit code 1
    ├── ServiceError               1  EC2 rejected the request
    │   └── MalformedResponse      1  the answer is not an EC2 response
    ├── InvalidRequest             2  nothing was sent to EC2
    ├── TimedOut                   3
    ├── EndpointUnreachable        4
    ├── AuthError                  5
    ├── NotFound                   6
    ├── Throttled                  7
    ├── PartialFailure             8
    ├── StoreError                 9  the job store is unreachable or damaged
    └── Cancelled                 10  a job was cancelled (before it started, or mid-way)

`translate()` is the one place where botocore's exceptions become ours; the
EC2 error-code table below decides the class, and is tested row by row.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """The stable exit codes of every response, CLI run and HTTP envelope."""

    SUCCESS = 0
    SERVICE_ERROR = 1
    INVALID_REQUEST = 2
    TIMED_OUT = 3
    UNREACHABLE = 4
    AUTH = 5
    NOT_FOUND = 6
    THROTTLED = 7
    PARTIAL = 8
    STORE = 9
    CANCELLED = 10


class ConnectorError(Exception):
    """Root of every failure the connector reports; never escapes `sync()`."""

    exit_code: ExitCode = ExitCode.SERVICE_ERROR

    def __init__(self, message: str, *, code: str | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data: dict[str, Any] = dict(data or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ServiceError(ConnectorError):
    """EC2 answered with an error not classed more specifically."""


class MalformedResponse(ServiceError):
    """The endpoint answered with something that is not an EC2 response of the operation
    (malformed or truncated XML, an HTML error page, a document of another shape)."""

    def __init__(self, message: str, *, code: str | None = "MalformedResponse",
                 data: Any = None) -> None:
        super().__init__(message, code=code, data=data)


class InvalidRequest(ConnectorError):
    """The request was refused before anything was sent to EC2."""

    exit_code = ExitCode.INVALID_REQUEST


class TimedOut(ConnectorError):
    """The call's deadline passed (connect, read, retries, pages and waits included)."""

    exit_code = ExitCode.TIMED_OUT


class EndpointUnreachable(ConnectorError):
    """The endpoint refused the connection, could not be resolved, or broke the connection."""

    exit_code = ExitCode.UNREACHABLE


class AuthError(ConnectorError):
    """Credentials are missing or rejected, or permission is denied."""

    exit_code = ExitCode.AUTH


class NotFound(ConnectorError):
    """A named resource (instance, group, image, ...) does not exist."""

    exit_code = ExitCode.NOT_FOUND


class Throttled(ConnectorError):
    """EC2 kept throttling the call until the retry budget ran out."""

    exit_code = ExitCode.THROTTLED


class PartialFailure(ConnectorError):
    """A batch in which some items succeeded and some failed."""

    exit_code = ExitCode.PARTIAL


class StoreError(ConnectorError):
    """The job store cannot be read or written (damaged, read-only, full, locked)."""

    exit_code = ExitCode.STORE


class Cancelled(ConnectorError):
    """A job was cancelled: before it started (nothing sent), or while it ran (nothing
    sent after the cancel; what was sent before is named)."""

    exit_code = ExitCode.CANCELLED


# EC2 error codes whose class is not a plain ServiceError. Codes ending in
# ".NotFound" are NotFound without being listed.
THROTTLING_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "EC2ThrottledException",
        "SlowDown",
        "BandwidthLimitExceeded",
        "PriorRequestNotComplete",
    }
)
AUTH_CODES = frozenset(
    {
        "AuthFailure",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidAccessKeyId",
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "RequestExpired",
        "OptInRequired",
        "Blocked",
    }
)
NOT_FOUND_CODES = frozenset(
    {"InvalidGroup.NotFound", "InvalidInstanceID.NotFound", "InvalidAMIID.NotFound"}
)


def class_for_code(code: str) -> type[ConnectorError]:
    """Pick the most specific class for an EC2 error code."""
    if code in THROTTLING_CODES:
        return Throttled
    if code in AUTH_CODES:
        return AuthError
    if code in NOT_FOUND_CODES or code.endswith("NotFound"):
        return NotFound
    return ServiceError


def translate(exc: BaseException) -> ConnectorError:
    """Turn a botocore (or lower) exception into the most specific ConnectorError."""
    if isinstance(exc, ConnectorError):
        return exc
    from botocore import exceptions as bexc

    if isinstance(exc, bexc.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        text = str(error.get("Message") or "").strip()
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = f"{code}: {text}" if text else code
        if code == "Unknown" and status:
            message = f"EC2 answered HTTP {status} without an error code"
        elif code == str(status):  # a generic error: a page, not EC2's XML (xmlparser.py)
            reason = text or "no reason"
            return MalformedResponse(f"the endpoint answered HTTP {status} ({reason}) with a "
                                     "body that is not an EC2 response")
        return class_for_code(code)(message, code=code)
    if isinstance(exc, bexc.ParamValidationError):
        return InvalidRequest(f"invalid parameter: {exc.kwargs.get('report', exc)}")
    if isinstance(exc, bexc.InvalidRegionError):
        return InvalidRequest(f"invalid region: {exc.kwargs.get('region_name')}")
    if isinstance(exc, _aws_config_errors()):
        # botocore's own text says which profile or file is at fault: keep it, on one line.
        return AuthError("AWS configuration: " + (" ".join(str(exc).split()) or "invalid"))
    if isinstance(exc, bexc.NoCredentialsError | bexc.PartialCredentialsError):
        return AuthError(
            "no AWS credentials: set access-key and security-key on the request or the "
            "connector, or configure the standard AWS credential chain"
        )
    if isinstance(exc, bexc.ConnectTimeoutError | bexc.ReadTimeoutError):
        return TimedOut(f"timed out talking to the endpoint: {_endpoint_of(exc)}")
    if isinstance(exc, bexc.SSLError):
        return EndpointUnreachable(f"TLS failure with the endpoint {_endpoint_of(exc)}")
    if isinstance(exc, bexc.EndpointConnectionError):
        return EndpointUnreachable(f"endpoint unreachable: {_endpoint_of(exc)}")
    if isinstance(exc, bexc.ConnectionClosedError | bexc.HTTPClientError):
        return EndpointUnreachable(
            f"the connection to the endpoint broke mid-response: {_endpoint_of(exc)}"
        )
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ResponseParserError):
        return MalformedResponse(
            "the endpoint answered with a body that is not an EC2 response "
            "(malformed or truncated XML, or an HTML error page)")
    return ServiceError(f"unexpected failure: {type(exc).__name__}", code=type(exc).__name__)


def _aws_config_errors() -> tuple[type[BaseException], ...]:
    from botocore import exceptions as bexc

    return (
        bexc.ProfileNotFound, bexc.ConfigNotFound, bexc.ConfigParseError,
        bexc.InvalidConfigError, bexc.CredentialRetrievalError, bexc.UnknownCredentialError,
        bexc.RefreshWithMFAUnsupportedError,
    )


def _endpoint_of(exc: BaseException) -> str:
    kwargs = getattr(exc, "kwargs", {}) or {}
    return str(kwargs.get("endpoint_url") or "the endpoint")


def unknown_name(kind: str, name: str, known: Iterable[str], where: str = "") -> InvalidRequest:
    """An InvalidRequest naming the unknown thing and, if any, the closest known one."""
    import difflib  # only for a name not found: not on every command's start-up

    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean '{matches[0]}'?)" if matches else ""
    return InvalidRequest(f"unknown {kind} '{printable(name)}'{where}{hint}")


def printable(name: str, limit: int = 64) -> str:
    """A name of the caller's as a message may quote it: encodable (a lone surrogate
    would break the CLI's output) and not a screenful."""
    shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return shown if len(shown) <= limit else shown[:limit] + "..."
