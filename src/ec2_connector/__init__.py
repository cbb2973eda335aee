"""ec2-connector: Flint's AWS-EC2 connector for Python scripts, shells and services."""

from .call import Call, RequestBuilder
from .errors import (
    AuthError,
    ConnectorError,
    EndpointUnreachable,
    ExitCode,
    InvalidRequest,
    NotFound,
    PartialFailure,
    ServiceError,
    StoreError,
    Throttled,
    TimedOut,
)
from .job import JobRecord, JobStatus
from .response import Response
from .runtime import Runtime
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "Call",
    "ConnectorError",
    "EndpointUnreachable",
    "ExitCode",
    "InvalidRequest",
    "JobRecord",
    "JobStatus",
    "NotFound",
    "PartialFailure",
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
