"""The response every call returns: exitcode, message, result data and meta."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from .errors import ConnectorError, ExitCode
from .masking import redact
from .spec.records import record

__all__ = ["SUCCESS_MESSAGE", "Outcome", "Response", "error_envelope", "redact"]

SUCCESS_MESSAGE = "success"


@record()
class Outcome:
    """What a runner returns when its success needs saying in other words than
    "success" ("no tag matched; nothing was deleted"): the data and that message."""

    data: dict[str, Any] = field(default_factory=dict)
    message: str = SUCCESS_MESSAGE


class Response:
    """What a script gets back from a connector call, success or not."""

    __slots__ = ("data", "exitcode", "headers", "message", "meta")

    def __init__(
        self,
        exitcode: int,
        message: str,
        data: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.exitcode = int(exitcode)
        self.message = message
        self.data: dict[str, Any] = data or {}
        self.meta: dict[str, Any] = meta or {}
        self.headers: dict[str, str] = headers or {}

    @property
    def ok(self) -> bool:
        return self.exitcode == ExitCode.SUCCESS

    @property
    def http_status(self) -> int | None:
        """HTTP status of the last EC2 response, if one was received."""
        status = self.meta.get("http-status")
        return int(status) if status is not None else None

    def get(self, key: str, default: Any = None) -> Any:
        """A result parameter, as Flint's `response.get("instance-info")`."""
        return self.data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return {
            "exitcode": self.exitcode,
            "message": self.message,
            "data": self.data,
            "meta": {**self.meta, "headers": self.headers},
        }

    @classmethod
    def from_error(cls, error: ConnectorError, meta: dict[str, Any] | None = None) -> Response:
        """The response a failure makes: its class's exit code, its message, its data."""
        return cls(error.exit_code, error.message, dict(error.data), meta)

    @classmethod
    def from_dict(cls, envelope: dict[str, Any]) -> Response:
        meta = dict(envelope.get("meta") or {})
        headers = meta.pop("headers", None) or {}
        return cls(
            envelope["exitcode"], envelope["message"], envelope.get("data"), meta, headers
        )

    def __repr__(self) -> str:
        return f"<Response exitcode={self.exitcode} message={self.message!r}>"


def error_envelope(error: ConnectorError) -> dict[str, Any]:
    """A failure as the CLI prints it and the service answers it, with no call behind it."""
    return {"exitcode": int(error.exit_code), "message": error.message, "data": error.data,
            "meta": {}}
