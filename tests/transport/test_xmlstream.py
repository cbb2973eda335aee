"""Streamed pages (transport/xmlstream.py) give the answer a page parsed whole gives,
which is botocore's: on moto's answers, canned pages of every shape of reservation, and
bodies generated from the model, fed whole or a few bytes at a time."""

from __future__ import annotations

import json
import random
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.model import Shape

from ec2_connector import Call
from ec2_connector.actions import ACTIONS
from ec2_connector.transport import xmlstream
from ec2_connector.transport.xmlparser import _TAGS, CompiledEC2Parser
from tests.harness.calls import config_for
from tests.harness.canned import describe_instances_xml
from tests.harness.canned_process import CannedProcess
from tests.harness.cli import run_cli
from tests.harness.ec2bodies import EC2, Bodies, scenario
from tests.harness.parsers import assert_same, canonical, ok, outcome

# Every listing of the catalog the stream can follow: (operation, path).
LISTINGS = sorted({
    (action.operation, path) for action in ACTIONS.values()
    if action.items and action.operation and (path := xmlstream.path_of(action.items))
})
CHUNKS = [7, 500, xmlstream.CHUNK]


def streamed(response: dict[str, Any], shape: Shape, path: tuple[str, ...],
             chunk: int) -> Any:
    with xmlstream.items_of(path, chunk, from_bytes=0):
        return outcome(CompiledEC2Parser(), response, shape)


def assert_streamed_same(response: dict[str, Any], shape: Shape, path: tuple[str, ...],
                         chunk: int) -> Any:
    """The streamed outcome is botocore's (answer or error), `==` and `repr` alike."""
    theirs = assert_same(response, shape)  # the whole-tree parse: botocore's
    ours = streamed(response, shape, path, chunk)
    assert canonical(ours) == canonical(theirs)
    assert repr(canonical(ours)) == repr(canonical(theirs))
    return theirs


def stream_taken(body: bytes, shape: Shape, path: tuple[str, ...], chunk: int) -> bool:
    """The stream itself (no fallback to botocore) gave the answer for `body`."""
    parser = CompiledEC2Parser()
    functions = parser.functions(shape)
    with xmlstream.items_of(path, chunk, from_bytes=0):
        plan = xmlstream.wanted(shape, len(body))
    assert functions is not None and plan is not None
    _, parsed = xmlstream.parse(body, "utf-8", plan, functions, functions[shape.name],
                                _TAGS.local)
    return isinstance(parsed, dict)


def test_the_catalog_s_listings_have_a_path_to_stream() -> None:
    operations = {op for op, _ in LISTINGS}
    assert {"DescribeInstances", "DescribeVolumes", "DescribeSnapshots"} <= operations
    big, small = xmlstream.STREAM_FROM_BYTES, xmlstream.STREAM_FROM_BYTES - 1
    for operation, path in LISTINGS:
        shape = EC2.operation_model(operation).output_shape
        with xmlstream.items_of(path):
            assert xmlstream.wanted(shape, big) is not None
            assert xmlstream.wanted(shape, small) is None  # a small body: parsed whole
    assert xmlstream.path_of("Reservations[].Instances[]") == ("Reservations", "Instances")
    assert xmlstream.path_of("Reservations[?State].Instances[]") is None
    with xmlstream.items_of(("Reservations", "OwnerId")):  # not a list: parsed whole
        assert xmlstream.wanted(EC2.operation_model("DescribeInstances").output_shape,
                                big) is None


@pytest.mark.parametrize("per_reservation", [1, 7, 300])
def test_canned_pages_stream_as_they_parse_whole(per_reservation: int) -> None:
    shape = EC2.operation_model("DescribeInstances").output_shape
    body = describe_instances_xml(600, per_reservation)
    for chunk in (997, xmlstream.CHUNK):
        parsed = assert_streamed_same(ok(body), shape, ("Reservations", "Instances"), chunk)
        assert sum(len(r["Instances"]) for r in parsed["Reservations"]) == 600
        assert stream_taken(body, shape, ("Reservations", "Instances"), chunk)


def test_moto_s_answers_stream_as_they_parse_whole(endpoint: str, image_id: str) -> None:
    captured: list[tuple[str, dict[str, Any], Shape]] = []

    def capture(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        response = {**response_dict, "headers": dict(response_dict["headers"])}
        captured.append((operation_model.name, response, operation_model.output_shape))

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    ec2.meta.events.register("before-parse.ec2.*", capture)
    ec2.run_instances(ImageId=image_id, MinCount=4, MaxCount=4)  # two reservations
    scenario(ec2, image_id)
    paths = dict(LISTINGS)
    seen = set()
    for name, response, shape in captured:
        if name in paths and shape is not None:
            for chunk in CHUNKS:
                assert_streamed_same(response, shape, paths[name], chunk)
            seen.add(name)
    assert seen == set(paths)


@pytest.mark.parametrize("bad", [False, True], ids=["good", "bad"])
def test_generated_bodies_stream_as_they_parse_whole(bad: bool) -> None:
    """Members missing, shuffled, repeated, unknown; bad values, truncated, garbage."""
    rng = random.Random(190 + bad)
    bodies = Bodies(rng, bad)
    taken = 0
    for operation, path in LISTINGS:
        shape = EC2.operation_model(operation).output_shape
        for _ in range(30):
            body = bodies.body(shape, operation)
            chunk = rng.choice(CHUNKS)
            parsed = assert_streamed_same(ok(body), shape, path, chunk)
            if not bad:
                assert isinstance(parsed, dict) and stream_taken(body, shape, path, chunk)
                taken += 1
    assert taken or bad


def test_a_repeated_list_falls_back_to_botocore_whole() -> None:
    shape = EC2.operation_model("DescribeInstances").output_shape
    one = "<item><reservationId>r-1</reservationId><instancesSet><item><instanceId>i-1" \
          "</instanceId></item></instancesSet><instancesSet/></item>"
    bodies = [
        f"<DescribeInstancesResponse><reservationSet>{one}</reservationSet>"
        f"<reservationSet>{one}</reservationSet></DescribeInstancesResponse>",
        f"<DescribeInstancesResponse><reservationSet>{one}{one}</reservationSet>"
        "</DescribeInstancesResponse>",
    ]
    for body in bodies:
        for chunk in CHUNKS:
            assert_streamed_same(ok(body), shape, ("Reservations", "Instances"), chunk)
        with pytest.raises(Exception):  # noqa: B017 (the stream refuses; botocore answers)
            stream_taken(body.encode(), shape, ("Reservations", "Instances"), 7)


def test_on_item_gets_what_sync_returns(canned_many: str) -> None:
    """Through the connector: items streamed over three pages are the listing's items."""
    config = {"connectors": {"aws-ec2": {
        "type": "aws-ec2", "access-key": "AKIAEXAMPLEEXAMPLE00",
        "security-key": "test-secret-key-value", "region": "us-east-1",
        "endpoint-url": canned_many}}}
    call = Call(config=config)
    whole = call.connector("aws-ec2").set("action", "describe-instances").sync()
    items: list[dict[str, Any]] = []
    streamed_response = call.connector("aws-ec2").set("action", "describe-instances") \
        .on_item(items.append).sync()
    assert whole.exitcode == streamed_response.exitcode == 0
    assert json.dumps(items, default=str) == json.dumps(
        whole.get("instances-info"), default=str)
    assert len(items) == 2_500


def test_sync_streams_a_big_page_without_on_item(canned_many: str) -> None:
    """A plain `sync()` of 2,500 instances (pages of 1,000, ~4 MB each) streams each big
    page too: what it allocates at its peak is the records and one page's stream (~20
    MiB, traced), not a whole page's tree besides (~31 MiB parsed whole)."""
    call = Call(config=config_for(canned_many))
    call.connector("aws-ec2").set("action", "describe-instances").sync()  # warm: clients
    tracemalloc.start()
    try:
        response = call.connector("aws-ec2").set("action", "describe-instances").sync()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.exitcode == 0 and len(response.get("instances-info")) == 2_500
    assert peak < 25 * 2**20, peak


def test_threads_streaming_big_pages_at_once_each_get_their_own(canned_many: str) -> None:
    """Four calls streaming 1,000-instance pages at the same time on one Call (the
    service's or a job pool's threads) each get the listing a lone call gets."""
    call = Call(config=config_for(canned_many))

    def listing(_: int) -> str:
        response = call.connector("aws-ec2").set("action", "describe-instances").sync()
        assert response.exitcode == 0, response.message
        return json.dumps(response.get("instances-info"), default=str)

    alone = listing(0)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(listing, range(4)))
    assert together == [alone] * 4 and len(json.loads(alone)) == 2_500


@pytest.fixture(scope="module")
def canned_many() -> Any:
    with CannedProcess(instances=2_500) as canned:
        yield canned.url


def test_the_cli_streams_every_instance_of_a_big_moto_account(
    env: dict[str, str], ec2: Any, image_id: str
) -> None:
    """1,100 instances: two pages, each streamed as it is parsed, every line printed."""
    ids = [i["InstanceId"] for count in (600, 500) for i in ec2.run_instances(
        ImageId=image_id, MinCount=count, MaxCount=count)["Instances"]]
    result = run_cli(env, "call", "describe-instances", "--output", "ndjson")
    *items, last = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0 and last["exitcode"] == 0, result.stderr
    assert sorted(i["instance-id"] for i in items) == sorted(ids)
    assert last["meta"]["streamed-items"] == 1_100


@pytest.fixture
def env(config: dict[str, Any], tmp_path: Any) -> dict[str, str]:
    from tests.harness.cli import clean_env

    path = tmp_path / "connectors.json"
    path.write_text(json.dumps(config))
    return {**clean_env(tmp_path / "home"), "EC2_CONNECTOR_CONFIG": str(path)}

