"""Property tests: any JSON a caller can send gives a valid call or a clear exitcode 2.

Over every action of the catalog, hypothesis sends any JSON value for any declared
parameter (and names no action declares). `Action.validate()` must return, or raise
InvalidRequest whose message names a parameter; nothing else. `Call.execute()` is driven
the same way against an endpoint that refuses connections, so nothing is ever sent: it
must answer 2 (refused by validation) or 4 (valid, endpoint unreachable), never raise.
Last, schemathesis fuzzes the HTTP service (a uvicorn subprocess) from its own OpenAPI
schema.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ec2_connector import Call, InvalidRequest
from ec2_connector.actions import ACTIONS
from ec2_connector.spec.action import Action
from ec2_connector.spec.params import canonical
from tests.harness import CaptureServer, RefusingEndpoint
from tests.harness.service import ROOT, ServiceProcess

# A valid request for each action (its declared example): the fuzzer changes one
# parameter of it at a time.
BASE: dict[str, dict[str, Any]] = {name: dict(a.example) for name, a in ACTIONS.items()}

# Strings that get past the first check of some type, so deeper checks are reached too.
PLAUSIBLE = st.sampled_from([
    "", " ", "true", "no", "1", "0", "-1", "1.5", "99999999999999999999", "a,b", ",", "[]",
    '["i-0123456789abcdef0"]', "[1, 2]", "{}", '{"k": "v"}', '{"k": null}', '{"": "v"}',
    "i-0123456789abcdef0", "i-xyz", "sg-0123456789abcdef0", "ami-0123456789abcdef0",
    "10.0.0.0/8", "::/0", "300.1.1.1/33", "tcp", "icmp", "-1", "all", "inbound", "outbound",
    "instance-type", "userData", "groups", "disable-api-termination", "stop", "\x00", "é" * 70,
    "us-east-1", "us east", "../x", "a" * 64,
])
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=24) | PLAUSIBLE
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8,
)
UNKNOWN_NAMES = st.text(max_size=16) | st.sampled_from(["instanceid", "Instance-Id", "tag", "x"])


def declared_names(action: Action) -> list[str]:
    """Every spelling the action accepts: names, aliases and their underscore forms."""
    names = {n for p in action.all_params() for n in (p.name, *p.aliases)}
    return sorted(names | {n.replace("-", "_") for n in names})


def names_a_parameter(message: str, action: Action, raw: dict[str, Any]) -> bool:
    """True when the message quotes a parameter of the request or of the action (or a
    member or list item of one: 'tags.env', 'block-device-mappings[0]')."""
    names = {canonical(str(k)) for k in raw} | {p.name for p in action.all_params()}
    return any(re.search(f"'{re.escape(name)}[.'\\[]", message) for name in names)


def check_validate(action: Action, raw: dict[str, Any]) -> None:
    """The property: validate returns, or raises InvalidRequest naming a parameter."""
    try:
        action.validate(raw)
    except InvalidRequest as exc:
        assert names_a_parameter(exc.message, action, raw), exc.message


@st.composite
def one_change(draw: st.DrawFn) -> tuple[Action, dict[str, Any]]:
    """A valid request for some action with one parameter added or replaced."""
    action = ACTIONS[draw(st.sampled_from(sorted(ACTIONS)))]
    name = draw(st.sampled_from(declared_names(action)) | UNKNOWN_NAMES)
    raw = {k: v for k, v in BASE[action.name].items() if canonical(k) != canonical(name)}
    return action, {**raw, name: draw(JSON)}


@st.composite
def any_request(draw: st.DrawFn) -> tuple[Action, dict[str, Any]]:
    """Any set of parameters, declared or not, with any JSON values."""
    action = ACTIONS[draw(st.sampled_from(sorted(ACTIONS)))]
    names = st.sampled_from(declared_names(action)) | UNKNOWN_NAMES
    return action, draw(st.dictionaries(names, JSON, max_size=6))


@settings(max_examples=600, deadline=None, database=None)
@given(one_change())
def test_validate_one_parameter_changed(case: tuple[Action, dict[str, Any]]) -> None:
    check_validate(*case)


@settings(max_examples=400, deadline=None, database=None)
@given(any_request())
def test_validate_any_parameters(case: tuple[Action, dict[str, Any]]) -> None:
    check_validate(*case)


# --------------------------------------------------------------------------- Call.execute

# endpoint-url stays out: a fuzzed host name would be looked up in DNS; the endpoint of
# the connector (a refusing loopback port) is used instead. timeout stays out: a tiny one
# rightly gives exitcode 3.
OFF_LIMITS = {"endpoint-url", "endpoint_url", "timeout"}


@pytest.fixture(scope="module")
def refusing_call() -> Iterator[Call]:
    with RefusingEndpoint() as srv:
        connector = {
            "access-key": "AKIAFUZZ000000000000", "security-key": "fuzz-secret",
            "endpoint-url": srv.url, "max-attempts": 1,
        }
        with Call(config={"connectors": {"aws-ec2": connector}}) as call:
            yield call


@st.composite
def flat_request(draw: st.DrawFn) -> dict[str, Any]:
    """A flat request as a script or the service would pass it: mostly near-valid ones."""
    action = ACTIONS[draw(st.sampled_from(sorted(ACTIONS)))]
    raw = dict(BASE[action.name])
    names = [n for n in declared_names(action) if n not in OFF_LIMITS]
    for _ in range(draw(st.integers(0, 2))):
        raw[draw(st.sampled_from(names))] = draw(JSON)
    name: Any = draw(st.sampled_from([action.name, action.name.replace("-", "_")]))
    if draw(st.integers(0, 7)) == 7:
        name = draw(st.text(max_size=12) | st.none() | st.integers())
    return {**raw, "action": name}


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=flat_request())
def test_execute_never_raises(refusing_call: Call, request: dict[str, Any]) -> None:
    response = refusing_call.execute("aws-ec2", request)
    assert response.exitcode in (2, 4), (response.exitcode, response.message)
    assert response.message
    if response.exitcode == 2:
        assert response.meta["attempts"] == 0  # nothing was sent


# --------------------------------------------------------------------------- any input at all

# Why: of 4,000 random requests, 880 raised out of sync() (a non-string parameter name gave
# AttributeError, a 5,000-digit timeout ValueError), and junk such as MinCount >= 2**31 or
# NaN reached EC2. FUZZ_REQUESTS=10000 runs the full property; the default stays short.
FUZZ_REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "300"))
# Ints of over 4,300 digits refuse str() (and repr()), so they are built, not listed.
HUGE = st.integers(4301, 4400).map(lambda digits: 10**digits)
JUNK_SCALARS = (
    SCALARS | st.binary(max_size=6) | st.integers(-(2**70), 2**70)
    | HUGE | st.sampled_from([
        math.nan, math.inf, -math.inf, "9" * 5000, "\ud800", "a\udfffb", 2**31,
        2**31 - 1, -(2**31), 2**63, "nan", "inf", "1e400", "0x10", "aws:name", "x" * 300,
        "203.0.113.5/0", "10.0.0.5/8", "*", "?",
    ])
)
JUNK_KEYS = (
    st.text(max_size=12) | st.integers() | st.none() | st.booleans() | st.floats()
    | st.tuples(st.integers(0, 9)) | HUGE | st.sampled_from(["\ud800", "x" * 200, b"bytes"])
)
JUNK = st.recursive(
    JUNK_SCALARS,
    lambda inner: (st.lists(inner, max_size=3) | st.tuples(inner)
                   | st.dictionaries(JUNK_KEYS, inner, max_size=3)),
    max_leaves=6,
)
# wait, endpoint-url and key-file stay out (a wait on the capture endpoint would last its
# whole timeout; the endpoint is the capture server's; a key file would be written where
# the fuzzer says); the timeout is set by the builder.
JUNK_OFF_LIMITS = OFF_LIMITS | {"wait", "key-file", "key_file"}


# Why: 44 of 3,000 random requests raised TypeError out of sync(): a connector name that
# was not a string (None, 7) given to Call.connector() or Call.execute().
JUNK_CONNECTORS = (
    JUNK_KEYS | st.lists(JUNK_KEYS, max_size=3) | st.just([]) | st.just(())
    | st.lists(st.just("aws-ec2"), min_size=1, max_size=2) | st.dictionaries(JUNK_KEYS, JUNK)
    | st.sampled_from([b"aws-ec2", ["aws-ec2", None], [10**4400], ("aws-ec2",)])
)


def a_name(value: Any) -> bool:
    """Is this a connector name, or a non-empty list of them, as scripts may pass?"""
    names = value if isinstance(value, list | tuple) else [value]
    return bool(names) and all(isinstance(n, str) for n in names)


@st.composite
def junk_connector(draw: st.DrawFn) -> Any:
    """Mostly the configured connector; one time in four, anything at all in its place."""
    return draw(JUNK_CONNECTORS) if draw(st.integers(0, 3)) == 3 else "aws-ec2"


@st.composite
def junk_request(draw: st.DrawFn) -> tuple[Any, list[tuple[Any, Any]]]:
    """An action (or junk in its place) and parameters that may be anything Python holds."""
    action = ACTIONS[draw(st.sampled_from(sorted(ACTIONS)))]
    pairs: list[tuple[Any, Any]] = list(BASE[action.name].items()) if draw(
        st.booleans()) else []
    declared = [n for n in declared_names(action) if n not in JUNK_OFF_LIMITS]
    for _ in range(draw(st.integers(0, 4))):
        pairs.append((draw(st.sampled_from(declared) | JUNK_KEYS), draw(JUNK)))
    name: Any = action.name
    if draw(st.integers(0, 9)) == 9:
        name = draw(JUNK)
    return name, pairs


@pytest.fixture(scope="module")
def capturing_call() -> Iterator[tuple[Call, CaptureServer]]:
    with CaptureServer() as srv:
        connector = {
            "access-key": "AKIAFUZZ000000000000", "security-key": "fuzz-secret",
            "endpoint-url": srv.url, "max-attempts": 1, "region": "us-east-1",
        }
        with Call(config={"connectors": {"aws-ec2": connector}}) as call:
            yield call, srv


@settings(max_examples=FUZZ_REQUESTS, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=junk_request(), connector=junk_connector(), flat=st.booleans())
def test_sync_never_raises_and_sends_nothing_invalid(
    capturing_call: tuple[Call, CaptureServer], case: tuple[Any, list[tuple[Any, Any]]],
    connector: Any, flat: bool,
) -> None:
    call, server = capturing_call
    name, pairs = case
    builder = call.connector(connector).set("action", name).timeout(5000)
    for key, value in pairs:
        builder.set(key, value)
    repr(builder)  # a repr never raises either
    before = server.requests_received
    # the property: this returns, whatever went in, the builder's way or Call.execute's
    if flat:
        response = call.execute(connector, {**dict(pairs), "action": name}, timeout_ms=5000)
    else:
        response = builder.sync()
    event(f"exitcode {response.exitcode}")
    if not a_name(connector) or (flat and not isinstance(connector, str)):
        assert response.exitcode == 2, response.message
        assert "\n" not in response.message
    assert isinstance(response.exitcode, int) and response.message
    assert "unexpected failure" not in response.message  # every fault has its own words
    response.message.encode("utf-8")  # printable by the CLI: no lone surrogate
    json.dumps(response.to_dict(), default=str)  # and sendable by the service
    if response.exitcode == 2:
        assert server.requests_received == before, response.message
        assert response.meta["attempts"] == 0
    else:
        assert response.exitcode in (0, 1, 3, 5, 6, 8), (response.exitcode, response.message)


@pytest.fixture(scope="module")
def capturing_jobs(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[Call, CaptureServer]]:
    with CaptureServer() as srv:
        connector = {
            "access-key": "AKIAFUZZ000000000000", "security-key": "fuzz-secret",
            "endpoint-url": srv.url, "max-attempts": 1, "region": "us-east-1",
        }
        with Call(config={"connectors": {"aws-ec2": connector}},
                  home=tmp_path_factory.mktemp("fuzz-jobs")) as call:
            yield call, srv


@settings(max_examples=max(50, FUZZ_REQUESTS // 3), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=junk_request(), connector=junk_connector())
def test_async_never_raises_and_stores_nothing_invalid(
    capturing_jobs: tuple[Call, CaptureServer], case: tuple[Any, list[tuple[Any, Any]]],
    connector: Any,
) -> None:
    call, server = capturing_jobs
    name, pairs = case
    builder = call.connector(connector).set("action", name).timeout(5000)
    for key, value in pairs:
        builder.set(key, value)
    before = server.requests_received
    job = builder.async_()  # the property: this returns, whatever went in
    response = job.wait(30000)
    assert "unexpected failure" not in response.message
    response.message.encode("utf-8")
    if not a_name(connector):
        assert response.exitcode == 2 and job.id is None, response.message
    if response.exitcode == 2 and job.id is None:  # refused before a job existed
        assert server.requests_received == before, response.message


NOT_NAMES = [None, 7, [], (), ["aws-ec2", None], [None], b"aws-ec2", 10**4400, {"a": 1},
             1.5, [["aws-ec2"]]]


@pytest.mark.parametrize("name", NOT_NAMES, ids=lambda n: type(n).__name__ + str(
    len(n) if isinstance(n, list | tuple) else ""))
def test_a_connector_name_that_is_not_one_is_exitcode_2_sent_nowhere(
    capturing_jobs: tuple[Call, CaptureServer], name: Any
) -> None:
    call, server = capturing_jobs
    before = server.requests_received
    built = call.connector(name).set("action", "describe-instances")
    answers = {"builder": built.sync(), "async": built.async_().wait(5000),
               "execute": call.execute(name, {"action": "describe-instances"})}
    for how, response in answers.items():
        assert response.exitcode == 2, (how, response.message)
        assert response.message and "\n" not in response.message, response.message
        assert "unexpected" not in response.message
        json.dumps(response.to_dict())
    assert "connector" in answers["execute"].message
    assert server.requests_received == before


def test_the_service_refuses_an_empty_list_of_connectors(tmp_path: Path) -> None:
    with CaptureServer() as srv:
        connector = {"access-key": "AKIAFUZZ000000000000", "security-key": "fuzz-secret",
                     "endpoint-url": srv.url, "max-attempts": 1, "region": "us-east-1"}
        with ServiceProcess(tmp_path / "svc", {"connectors": {"aws-ec2": connector}}) as svc:
            answers = [_post(f"{svc.url}/v1/connectors/aws-ec2/sync",
                             {"action": "describe-instances", "connectors": value})
                       for value in ([], "", [None], 7, [7])]
        assert srv.requests_received == 0
    for answer in answers:
        assert answer["exitcode"] == 2, answer
        assert "connector" in answer["message"] and "\n" not in answer["message"], answer


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as refused:  # a 4xx carries the envelope too
        return {"status": refused.code, **json.loads(refused.read())}


CONNECTION = sorted({"access-key", "security-key", "session-token", "region", "include-raw-body"})


@settings(max_examples=100, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(CONNECTION), value=JSON)
def test_execute_any_connection_parameter(refusing_call: Call, name: str, value: Any) -> None:
    response = refusing_call.execute("aws-ec2", {"action": "describe-instances", name: value})
    assert response.exitcode in (2, 4), (response.exitcode, response.message)
    if response.exitcode == 2:
        assert f"'{name}'" in response.message


@pytest.mark.parametrize("url", [
    "not a url", "ftp://127.0.0.1", "http://", "http://127.0.0.1:notaport",
    "http://127.0.0.1:99999", "http://a b",
])
def test_execute_malformed_endpoint_url(refusing_call: Call, url: str) -> None:
    response = refusing_call.execute("aws-ec2", {"action": "describe-instances",
                                                 "endpoint-url": url})
    assert response.exitcode == 2, response.message
    assert "'endpoint-url'" in response.message


@pytest.mark.parametrize(
    "timeout", [10**15, 10**400, "abc", 0, -5, True],
    ids=["1e15", "1e400", "abc", "zero", "negative", "bool"],
)
def test_execute_unusable_timeout(refusing_call: Call, timeout: Any) -> None:
    response = refusing_call.connector("aws-ec2").set("action", "describe-instances") \
        .set("timeout", timeout).sync()
    assert response.exitcode == 2, response.message
    assert "'timeout'" in response.message
    response = refusing_call.connector("aws-ec2").set("action", "describe-instances") \
        .timeout(timeout).sync()
    assert response.exitcode == 2, response.message


HUGE_INT = 10**4400  # str() of it raises ValueError


@pytest.mark.parametrize("params", [
    {"region": ["us-east-1", HUGE_INT]},
    {"instance-id": [HUGE_INT]},
    {HUGE_INT: "x"},
], ids=["in-a-region-list", "in-an-id-list", "as-a-key"])
def test_a_huge_int_anywhere_is_exitcode_2(refusing_call: Call, params: dict[Any, Any]) -> None:
    """Why: FUZZ_REQUESTS=10000 found a 4,400-digit int in a list raising ValueError out
    of sync(), and as a parameter name ending as "unexpected failure" (exitcode 1)."""
    builder = refusing_call.connector("aws-ec2").set("action", "describe-instances")
    for key, value in params.items():
        builder.set(key, value)
    response = builder.sync()
    assert response.exitcode == 2, response.message
    assert "too large" in response.message or "unknown parameter" in response.message


@pytest.mark.parametrize("params", [
    {"region": ["us-east-1", "\ud800"]},
    {"instance-id": ["i-0123456789abcdef0", "a\udfffb"]},
], ids=["region-list", "id-list"])
def test_a_list_item_with_a_lone_surrogate_is_named_printably(
    refusing_call: Call, params: dict[str, Any]
) -> None:
    """Why: the message quoted the item raw, so the CLI could not print it."""
    builder = refusing_call.connector("aws-ec2").set("action", "describe-instances")
    for key, value in params.items():
        builder.set(key, value)
    response = builder.sync()
    assert response.exitcode == 2, response.message
    assert "(item 2: " in response.message
    response.message.encode("utf-8")


# --------------------------------------------------------------------------- the service

# Checks left out: `negative_data_rejection` expects a 4xx for a body the schema rejects,
# but POST /sync answers 200 with the envelope whatever its exitcode (exitcode 2 here), by
# the service's contract; `positive_data_acceptance` expects 2xx for any schema-valid body,
# but a schema-valid body may still name no real instance. The `coverage` phase is left
# out: under Python 3.11.7 it fails inside hypothesis (an AST recursion SystemError).
ST_CHECKS = [
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "missing_required_header", "ignored_auth",
    "unsupported_method", "use_after_free", "ensure_resource_availability",
    "error_is_an_envelope", "call_answers_with_an_envelope",  # tests/harness/st_hooks.py
]
TOKEN = "fuzz-token"


def schemathesis_command(url: str, config: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run",
        f"{url}/openapi.json", "-H", f"Authorization: Bearer {TOKEN}",
        "--checks", ",".join(ST_CHECKS), "--max-examples", "40", "--workers", "2",
        "--request-timeout", "15", "--max-response-time", "10", "--no-color",
        "--generation-database", "none", "--phases", "examples,fuzzing,stateful",
    ]


def test_service_from_its_openapi_schema(tmp_path: Path) -> None:
    """No 500s, no hangs, every error an envelope (tests/harness/st_hooks.py)."""
    config = tmp_path / "schemathesis.toml"
    config.write_text('[parameters]\n"path.name" = "aws-ec2"\n')
    # Run from tmp_path: schemathesis leaves a .schemathesis/ folder where it runs.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.harness.st_hooks", "PYTHONPATH": path}
    with RefusingEndpoint() as refused:
        connector = {"access-key": "AKIAFUZZ000000000000", "security-key": "fuzz-secret",
                     "endpoint-url": refused.url, "max-attempts": 1}
        with ServiceProcess(tmp_path / "svc", {"connectors": {"aws-ec2": connector}},
                            token=TOKEN) as service:
            result = subprocess.run(schemathesis_command(service.url, config), env=env,
                                    cwd=tmp_path, capture_output=True, text=True, timeout=240)
            alive = service.proc is not None and service.proc.poll() is None
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert alive
