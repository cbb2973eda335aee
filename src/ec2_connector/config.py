"""Named connectors: where their settings come from and how a request overrides them."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from .errors import InvalidRequest, unknown_name
from .settings import CONFIG_ENV, DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_MODE
from .spec.netparams import EndpointUrl, region_type
from .spec.params import Mapping_, String, StringList
from .spec.records import record
from .transport import regions

DEFAULT_CONNECTOR = "aws-ec2"
DEFAULT_REGION = regions.DEFAULT_REGION
TOP_LEVEL_KEYS = ("connectors", "principals")  # principals: who may use the service
_KEYS = {
    "type", "access-key", "security-key", "session-token", "region", "endpoint-url",
    "profile", "max-attempts", "retry-mode", "max-in-flight", "description",
    "allowed-endpoint-urls", "allow-operations", "launch-defaults",
}
# Settings checked with the request parameter of the same name's type.
_TYPES = {
    "access-key": String(), "security-key": String(), "session-token": String(),
    "region": region_type(), "endpoint-url": EndpointUrl(), "profile": String(),
    "allowed-endpoint-urls": StringList(EndpointUrl()),
    "allow-operations": StringList(),
    # create-instance's parameters for every launch (checked as the request's, at a call)
    "launch-defaults": Mapping_("any"),
}


@record(frozen=True)
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
    allowed_endpoint_urls: tuple[str, ...] = ()
    allow_operations: tuple[str, ...] = ()  # call-operation beyond read-only: "Modify*"
    # create-instance's parameters for every launch, unless the request gives its own
    launch_defaults: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_entry(cls, name: str, entry: Mapping[str, Any]) -> ConnectorConfig:
        entry = {str(k).replace("_", "-"): v for k, v in entry.items()}
        unknown = set(entry) - _KEYS
        if unknown:
            raise unknown_name(f"setting in connector '{name}'", sorted(unknown)[0], _KEYS)
        entry = _checked(name, entry)
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
            allowed_endpoint_urls=tuple(
                _normal_url(u) for u in entry.get("allowed-endpoint-urls") or ()
            ),
            allow_operations=tuple(entry.get("allow-operations") or ()),
            launch_defaults=tuple((entry.get("launch-defaults") or {}).items()),
        )

    def defaults(self, setting: str | None) -> tuple[tuple[str, Any], ...]:
        """The parameter defaults a connector setting gives an action (none if None)."""
        return self.launch_defaults if setting == "launch-defaults" else ()

    def allows_endpoint(self, url: str) -> bool:
        """May a service request send this connector's credentials to `url`?"""
        normal = _normal_url(url)
        own = self.endpoint_url and _normal_url(self.endpoint_url) == normal
        return bool(own) or normal in self.allowed_endpoint_urls


def _checked(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with its values converted as the request parameters are, or an error
    naming the connector and the setting (never the value: it may be a secret)."""
    out = dict(entry)
    for key, kind in _TYPES.items():
        if entry.get(key) is not None:
            try:
                out[key] = kind.convert(entry[key], key)
            except InvalidRequest as exc:
                raise InvalidRequest(f"connector '{name}': {exc.message}") from None
    return out


def _normal_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


class Connectors:
    """The named connectors of one `Call`: from a dict, a JSON file, or $EC2_CONNECTOR_CONFIG."""

    def __init__(self, source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> None:
        self._source = source
        self._loaded: dict[str, ConnectorConfig] | None = None

    def get(self, name: str) -> ConnectorConfig:
        """The connector called `name`; InvalidRequest (exitcode 2) for any other name,
        or for a name that is not text (scripts pass anything)."""
        if not isinstance(name, str):
            if isinstance(name, list | tuple) and not name:
                raise InvalidRequest("no connector named: the list of connector names is empty")
            several = (" (several: the 'connectors' parameter)"
                       if isinstance(name, list | tuple) else "")
            raise InvalidRequest(
                f"a connector name must be text, got {type(name).__name__}{several}")
        connectors = self._load()
        if name in connectors:
            return connectors[name]
        if name == DEFAULT_CONNECTOR:
            return ConnectorConfig(name=name)
        raise unknown_name("connector", name, [*connectors, DEFAULT_CONNECTOR])

    def names(self) -> list[str]:
        return sorted({*self._load(), DEFAULT_CONNECTOR})

    def document(self) -> Mapping[str, Any]:
        """The config document as read, every section (the service's principals too)."""
        return _read(self._source)

    def use_profile(self, name: str, profile: str) -> None:
        """Let connector `name` take its credentials from an AWS profile, for this Call
        only (the CLI's --profile): the profile replaces any keys in its config."""
        self._load()[name] = replace(
            self.get(name), profile=profile, access_key=None, security_key=None,
            session_token=None,
        )

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
    # A document of another shape is refused, never ignored: ignored, the call would go
    # to AWS itself with whatever credentials the environment holds.
    keys = [str(k) for k in document]
    if keys and "connectors" not in document:
        found = ", ".join(f'"{k}"' for k in keys[:3])
        raise InvalidRequest(
            f'config has no "connectors" object (found {found}); wrap it: '
            '{"connectors": {...}}'
        )
    for key in keys:
        if key not in TOP_LEVEL_KEYS:
            raise unknown_name("top-level key in the connector config", key, TOP_LEVEL_KEYS)
    entries = document.get("connectors", {})
    if not isinstance(entries, Mapping):
        raise InvalidRequest("connector config: 'connectors' must be an object")
    out = {}
    for name, entry in entries.items():
        name = str(name)
        if not isinstance(entry, Mapping):
            raise InvalidRequest(f"connector config: '{name}' must be an object")
        out[name] = ConnectorConfig.from_entry(name, entry)
    return out


@record(frozen=True)
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
    region_source: str = "request"
    allow_operations: tuple[str, ...] = ()

    # Written out: one is made on every call (spec/records.py).
    def __init__(self, region: str, endpoint_url: str | None, access_key: str | None,
                 security_key: str | None, session_token: str | None, profile: str | None,
                 max_attempts: int, retry_mode: str, max_in_flight: int | None = None,
                 region_source: str = "request", allow_operations: tuple[str, ...] = ()) -> None:
        self.__dict__.update(
            region=region, endpoint_url=endpoint_url, access_key=access_key,
            security_key=security_key, session_token=session_token, profile=profile,
            max_attempts=max_attempts, retry_mode=retry_mode, max_in_flight=max_in_flight,
            region_source=region_source, allow_operations=allow_operations)

    @classmethod
    def resolve(cls, connector: ConnectorConfig, params: Mapping[str, Any]) -> Target:
        access, secret, token = _credentials(connector, params)
        profile = None if access else (params.get("profile") or connector.profile)
        endpoint = params.get("endpoint-url") or connector.endpoint_url
        region, source = _region(connector, params, profile)
        if not (endpoint or regions.endpoint_from_env()):
            regions.check_known(region)
        return cls(
            region=region,
            endpoint_url=endpoint,
            access_key=access,
            security_key=secret,
            session_token=token,
            profile=profile,
            max_attempts=connector.max_attempts,
            retry_mode=connector.retry_mode,
            max_in_flight=connector.max_in_flight,
            region_source=source,
            allow_operations=connector.allow_operations,
        )

    def shown_endpoint(self) -> str:
        """The endpoint as meta shows it: never with userinfo in it."""
        if not self.endpoint_url:
            return f"https://ec2.{self.region}.amazonaws.com"
        return _shown(self.endpoint_url)


@functools.lru_cache(maxsize=256)  # few endpoints, and every call's bulkhead asks
def _shown(endpoint_url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _credentials(
    connector: ConnectorConfig, params: Mapping[str, Any]
) -> tuple[str | None, str | None, str | None]:
    """Each key from the request, else the config; the config's session token only with
    the config's keys: sent with the request's keys, it would go wherever they go."""
    access = params.get("access-key") or connector.access_key
    secret = params.get("security-key") or connector.security_key
    token = params.get("session-token")
    if not (token or params.get("access-key") or params.get("security-key")):
        token = connector.session_token
    if bool(access) != bool(secret):
        raise InvalidRequest("give both 'access-key' and 'security-key', or neither")
    return access, secret, token


def _region(
    connector: ConnectorConfig, params: Mapping[str, Any], profile: str | None
) -> tuple[str, str]:
    if params.get("region"):
        return str(params["region"]), "request"
    if connector.region:
        return connector.region, "connector"
    chained = regions.from_aws_chain(profile)
    if chained:
        return chained, "aws-config"
    return DEFAULT_REGION, "default"
