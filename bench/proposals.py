"""The core changes this benchmark proposes, applied by monkeypatching for a measurement.

`python -m bench --proposals` measures every benchmark a second time with them, in this
process and (through `proposals_site/sitecustomize.py` on PYTHONPATH) in every child
process. They are the wiring described in docs/benchmarks.md; once the core has them,
`apply()` finds them there and changes nothing.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from pathlib import Path
from typing import Any

ENV = "EC2_CONNECTOR_BENCH_PROPOSALS"
SITE = Path(__file__).resolve().parent / "proposals_site"
_applied = False


def child_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child process that must run with the proposals applied."""
    root = str(SITE.parent.parent)
    path = os.pathsep.join(p for p in (str(SITE), root, env.get("PYTHONPATH", "")) if p)
    return {**env, ENV: "1", "PYTHONPATH": path}


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    from ec2_connector import clients

    source = inspect.getsource(clients)
    if "model.install" not in source:
        _wire_session(clients)
    if "check_complete" not in source:
        _wire_truncation(clients)
    _wire_params()


def _wire_session(clients: Any) -> None:
    original = clients._session_for

    def session_for(profile: str | None) -> Any:
        fresh = bool(profile) or clients._session is None
        session = original(profile)
        if fresh:  # imported here, as the wiring would: botocore is loaded by now
            from ec2_connector import model, wire

            model.install(session)
            wire.install_fast_timestamps(session)
        return session

    clients._session_for = session_for


def _wire_truncation(clients: Any) -> None:
    original = clients._before_parse

    def before_parse(response_dict: dict[str, Any], **kwargs: Any) -> None:
        from ec2_connector import wire

        original(response_dict, **kwargs)
        ctx = clients.current()
        wire.check_complete(response_dict, ctx.endpoint if ctx else None)

    clients._before_parse = before_parse


def _wire_params() -> None:
    from ec2_connector import action
    from ec2_connector.netparams import EndpointUrl, interval_type, region_type

    types = {"region": region_type(), "endpoint-url": EndpointUrl(),
             "wait-interval": interval_type()}

    def swap(params: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(dataclasses.replace(p, type=types[p.name]) if p.name in types else p
                     for p in params)

    action.CONNECTION_PARAMS = swap(action.CONNECTION_PARAMS)
    action.WAIT_PARAMS = swap(action.WAIT_PARAMS)
    action._INDEX_CACHE.clear()


def plain_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a baseline child process: never with the proposals."""
    out = {k: v for k, v in env.items() if k != ENV}
    parts = [p for p in out.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(SITE)]
    out["PYTHONPATH"] = os.pathsep.join(parts)
    return out
