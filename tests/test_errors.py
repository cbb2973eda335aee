"""The one boundary: botocore failures become the most specific ConnectorError."""

from __future__ import annotations

import pytest
from botocore import exceptions as bexc
from botocore.parsers import ResponseParserError

from ec2_connector import errors
from ec2_connector.errors import ExitCode, class_for_code, translate


def client_error(code: str, message: str = "text", status: int = 400) -> bexc.ClientError:
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return bexc.ClientError(response, "StopInstances")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [
        ("RequestLimitExceeded", ExitCode.THROTTLED),
        ("Throttling", ExitCode.THROTTLED),
        ("ThrottlingException", ExitCode.THROTTLED),
        ("RequestThrottled", ExitCode.THROTTLED),
        ("AuthFailure", ExitCode.AUTH),
        ("UnauthorizedOperation", ExitCode.AUTH),
        ("InvalidClientTokenId", ExitCode.AUTH),
        ("SignatureDoesNotMatch", ExitCode.AUTH),
        ("OptInRequired", ExitCode.AUTH),
        ("InvalidInstanceID.NotFound", ExitCode.NOT_FOUND),
        ("InvalidGroup.NotFound", ExitCode.NOT_FOUND),
        ("InvalidAMIID.NotFound", ExitCode.NOT_FOUND),
        ("InvalidSubnetID.NotFound", ExitCode.NOT_FOUND),
        ("InvalidKeyPair.NotFound", ExitCode.NOT_FOUND),
        ("InvalidAMIID.Malformed", ExitCode.SERVICE_ERROR),
        ("InvalidParameterValue", ExitCode.SERVICE_ERROR),
        ("InsufficientInstanceCapacity", ExitCode.SERVICE_ERROR),
        ("DependencyViolation", ExitCode.SERVICE_ERROR),
    ],
)
def test_ec2_code_table(code: str, exit_code: ExitCode) -> None:
    assert class_for_code(code).exit_code == exit_code
    error = translate(client_error(code, "the text"))
    assert error.exit_code == exit_code
    assert error.message == f"{code}: the text"
    assert error.code == code


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (bexc.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
         errors.EndpointUnreachable),
        (bexc.ConnectionClosedError(endpoint_url="http://x"), errors.EndpointUnreachable),
        (bexc.SSLError(endpoint_url="https://x", error="bad"), errors.EndpointUnreachable),
        (bexc.ReadTimeoutError(endpoint_url="http://x"), errors.TimedOut),
        (bexc.ConnectTimeoutError(endpoint_url="http://x"), errors.TimedOut),
        (bexc.NoCredentialsError(), errors.AuthError),
        (bexc.ParamValidationError(report="bad value"), errors.InvalidRequest),
        (ResponseParserError("bad xml"), errors.MalformedResponse),
        (RuntimeError("boom"), errors.ServiceError),
    ],
)
def test_lower_layer_failures(exc: Exception, cls: type[errors.ConnectorError]) -> None:
    error = translate(exc)
    assert type(error) is cls
    assert error.message


def test_every_class_carries_its_exit_code() -> None:
    expected = {
        errors.ServiceError: 1, errors.InvalidRequest: 2, errors.TimedOut: 3,
        errors.EndpointUnreachable: 4, errors.AuthError: 5, errors.NotFound: 6,
        errors.Throttled: 7, errors.PartialFailure: 8, errors.StoreError: 9,
        errors.Cancelled: 10,
    }
    for cls, code in expected.items():
        assert issubclass(cls, errors.ConnectorError)
        assert cls("x").exit_code == code


def test_unknown_name_suggests_close_match() -> None:
    error = errors.unknown_name("action", "stop-instance", ["stop-instances", "start-instances"])
    assert "did you mean 'stop-instances'" in error.message
    assert "did you mean" not in errors.unknown_name("action", "zzz", ["stop-instances"]).message
