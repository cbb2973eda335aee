"""Named connectors: where their settings come from and how a request overrides them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidRequest, unknown_name
from .settings import CONFIG_ENV, DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_MODE

DEFAULT_CONNECTOR = "aws-ec2"
DEFAULT_REGION = "us-east-1"
_KEYS = {
    "type", "access-key", "security-key", "session-token", "region", "endpoint-url",
    "profile", "max-attempts", "retry-mode", "max-in-flight", "description",
}


@dataclass(frozen=True)
class ConnectorConfig:
    """One named connector's settings; secrets are kept out of its repr."""

    name: str
    access_key: str | None = None
    security_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_mode: str = DEFAULT_RETRY_MODE
    max_in_flight: int | None = None  # calls in flight to its endpoint; None: the runtime's

    @classmethod
    def from_entry(cls, name: str, entry: Mapping[str, Any]) -> ConnectorConfig:
        entry = {str(k).replace("_", "-"): v for k, v in entry.items()}
        unknown = set(entry) - _KEYS
        if unknown:
            raise unknown_name(f"setting in connector '{name}'", sorted(unknown)[0], _KEYS)
        if entry.get("type", "aws-ec2") != "aws-ec2":
            raise InvalidRequest(f"connector '{name}' has type '{entry['type']}', not 'aws-ec2'")
        mode = entry.get("retry-mode", DEFAULT_RETRY_MODE)
        if mode not in ("standard", "adaptive", "legacy"):
            raise InvalidRequest(f"connector '{name}': retry-mode must be standard or adaptive")
        attempts = entry.get("max-attempts", DEFAULT_MAX_ATTEMPTS)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            raise InvalidRequest(f"connector '{name}': max-attempts must be a positive integer")
        in_flight = entry.get("max-in-flight")
        if in_flight is not None and (
            not isinstance(in_flight, int) or isinstance(in_flight, bool) or in_flight < 1
        ):
            raise InvalidRequest(f"connector '{name}': max-in-flight must be a positive integer")
        return cls(
            name=name,
            access_key=entry.get("access-key"),
            security_key=entry.get("security-key"),
            session_token=entry.get("session-token"),
            region=entry.get("region"),
            endpoint_url=entry.get("endpoint-url"),
            profile=entry.get("profile"),
            max_attempts=attempts,
            retry_mode=mode,
            max_in_flight=in_flight,
        )


class Connectors:
    """The named connectors of one `Call`: from a dict, a JSON file, or $EC2_CONNECTOR_CONFIG."""

    def __init__(self, source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> None:
        self._source = source
        self._loaded: dict[str, ConnectorConfig] | None = None

    def get(self, name: str) -> ConnectorConfig:
        connectors = self._load()
        if name in connectors:
            return connectors[name]
        if name == DEFAULT_CONNECTOR:
            return ConnectorConfig(name=name)
        raise unknown_name("connector", name, [*connectors, DEFAULT_CONNECTOR])

    def names(self) -> list[str]:
        return sorted({*self._load(), DEFAULT_CONNECTOR})

    def _load(self) -> dict[str, ConnectorConfig]:
        if self._loaded is None:
            self._loaded = _parse(_read(self._source))
        return self._loaded


def _read(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    path = source if source is not None else os.environ.get(CONFIG_ENV)
    if not path:
        return {}
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidRequest(f"connector config file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"connector config file {path} is not valid JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise InvalidRequest(f"connector config file {path} must hold a JSON object")
    return document


def _parse(document: Mapping[str, Any]) -> dict[str, ConnectorConfig]:
    entries = document.get("connectors", {})
    if not isinstance(entries, Mapping):
        raise InvalidRequest("connector config: 'connectors' must be an object")
    out = {}
    for name, entry in entries.items():
        if not isinstance(entry, Mapping):
            raise InvalidRequest(f"connector config: '{name}' must be an object")
        out[name] = ConnectorConfig.from_entry(name, entry)
    return out


@dataclass(frozen=True)
class Target:
    """Where and as whom one call talks to EC2: request values over config over environment."""

    region: str
    endpoint_url: str | None
    access_key: str | None
    security_key: str | None = field(repr=False)
    session_token: str | None = field(repr=False)
    profile: str | None
    max_attempts: int
    retry_mode: str
    max_in_flight: int | None = None

    @classmethod
    def resolve(cls, connector: ConnectorConfig, params: Mapping[str, Any]) -> Target:
        region = (
            params.get("region")
            or connector.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or DEFAULT_REGION
        )
        access = params.get("access-key") or connector.access_key
        secret = params.get("security-key") or connector.security_key
        if bool(access) != bool(secret):
            raise InvalidRequest("give both 'access-key' and 'security-key', or neither")
        return cls(
            region=region,
            endpoint_url=params.get("endpoint-url") or connector.endpoint_url,
            access_key=access,
            security_key=secret,
            session_token=params.get("session-token") or connector.session_token,
            profile=None if access else connector.profile,
            max_attempts=connector.max_attempts,
            retry_mode=connector.retry_mode,
            max_in_flight=connector.max_in_flight,
        )

    def shown_endpoint(self) -> str:
        """The endpoint as meta shows it: never with userinfo in it."""
        if not self.endpoint_url:
            return f"https://ec2.{self.region}.amazonaws.com"
        from urllib.parse import urlsplit

        parts = urlsplit(self.endpoint_url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"
