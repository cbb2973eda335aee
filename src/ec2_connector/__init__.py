"""ec2-connector: Flint's AWS-EC2 connector for Python scripts, shells and services.

The public names are imported on first use (PEP 562), so importing the package imports
none of it: the `ec2-connector` command must take Ctrl-C from its first line, before the
~100 ms the catalog of actions takes to import (see `cli.main`).
"""

from __future__ import annotations

from .lazy import exports

# Not `typing` (~8 ms, with `re`): a type checker reads this name as typing's own.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .call import Call, RequestBuilder
    from .errors import (
        AuthError,
        Cancelled,
        ConnectorError,
        EndpointUnreachable,
        ExitCode,
        InvalidRequest,
        MalformedResponse,
        NotFound,
        PartialFailure,
        ServiceError,
        StoreError,
        Throttled,
        TimedOut,
    )
    from .jobs.manager import Job, RefusedJob
    from .jobs.record import JobRecord, JobStatus
    from .response import Response
    from .runtime import Runtime
    from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "Call",
    "Cancelled",
    "ConnectorError",
    "EndpointUnreachable",
    "ExitCode",
    "InvalidRequest",
    "Job",
    "JobRecord",
    "JobStatus",
    "MalformedResponse",
    "NotFound",
    "PartialFailure",
    "RefusedJob",
    "RequestBuilder",
    "Response",
    "Runtime",
    "ServiceError",
    "Settings",
    "StoreError",
    "Throttled",
    "TimedOut",
    "__version__",
]

_ERRORS = ["AuthError", "Cancelled", "ConnectorError", "EndpointUnreachable", "ExitCode",
           "InvalidRequest", "MalformedResponse", "NotFound", "PartialFailure", "ServiceError",
           "StoreError", "Throttled", "TimedOut"]
_EXPORTS = {
    **dict.fromkeys(_ERRORS, "errors"),
    "Call": "call", "RequestBuilder": "call", "JobRecord": "jobs.record",
    "JobStatus": "jobs.record", "Job": "jobs.manager", "RefusedJob": "jobs.manager",
    "Response": "response", "Runtime": "runtime", "Settings": "settings",
}
__getattr__, __dir__ = exports(__name__, _EXPORTS)
