"""The compiled EC2 parser gives botocore's answer: the same dicts (`==` and `repr`) and the
same exceptions, on moto's answers to every operation the catalog calls and on bodies
generated from the model, good and bad."""

from __future__ import annotations

import gc
import marshal
import random
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import parsers
from botocore.model import ServiceModel, Shape

from ec2_connector import Call
from ec2_connector.actions import catalog
from ec2_connector.config import Target
from ec2_connector.runtime import Runtime
from ec2_connector.transport.clients import ClientCache
from ec2_connector.transport.gcpause import MAX_PAUSE_S, PAUSE_GC_FROM_BYTES, gc_paused
from ec2_connector.transport.xmlparser import (
    CompiledEC2Parser,
    CompiledParserFactory,
    code_for,
    fast_timestamp,
)
from tests.harness.canned import describe_instances_xml, state_change_xml
from tests.harness.ec2bodies import EC2, Bodies, scenario, timestamp
from tests.harness.parsers import assert_same, ok

OPERATIONS = catalog.operations()


# (a) moto's answers, every operation of the catalog -----------------------------------

def test_moto_answers_to_every_catalog_operation_parse_as_botocore_does(
    endpoint: str, image_id: str
) -> None:
    captured: list[tuple[str, dict[str, Any], Shape | None]] = []

    def capture(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        response = {**response_dict, "headers": dict(response_dict["headers"])}
        captured.append((operation_model.name, response, operation_model.output_shape))

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    ec2.meta.events.register("before-parse.ec2.*", capture)
    scenario(ec2, image_id)

    assert set(OPERATIONS) <= {name for name, _, _ in captured}
    compiled = 0
    for _name, response, shape in captured:
        parsed = assert_same(response, shape)
        if response["status_code"] == 200 and shape is not None:
            parser = CompiledEC2Parser()
            fn = parser.compiled(shape)
            assert fn is not None
            # the compiled path itself, not a fallback, gave botocore's answer
            mine = parser.parse_with(fn, response["body"])
            assert mine == {k: v for k, v in parsed.items() if k != "ResponseMetadata"} | {
                "ResponseMetadata": {"RequestId": parsed["ResponseMetadata"]["RequestId"]}}
            compiled += 1
    assert compiled >= len([op for op in OPERATIONS if EC2.operation_model(op).output_shape])


# (b) bodies generated from the model ---------------------------------------------------

def _shapes(model: ServiceModel, operations: list[str]) -> list[tuple[str, Shape]]:
    found = [(op, model.operation_model(op).output_shape) for op in operations]
    return [(op, shape) for op, shape in found if shape is not None]


@pytest.mark.parametrize("bad", [False, True], ids=["good", "bad"])
def test_generated_bodies_parse_as_botocore_does(bad: bool) -> None:
    rng = random.Random(19 + bad)
    bodies = Bodies(rng, bad)
    compiled = 0
    for operation, shape in _shapes(EC2, OPERATIONS):
        for _ in range(40):
            body = bodies.body(shape, operation)
            parsed = assert_same(ok(body), shape)
            if not bad:
                parser = CompiledEC2Parser()
                fn = parser.compiled(shape)
                assert fn is not None and isinstance(parsed, dict)
                assert parser.parse_with(fn, body) is not None  # no fallback on a good body
                compiled += 1
    assert compiled or bad


def test_error_bodies_are_botocore_s() -> None:
    shape = EC2.operation_model("StopInstances").output_shape
    error = ("<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>no"
             "</Message></Error></Errors><RequestID>r-2</RequestID></Response>")
    for status, body in [(400, error), (503, ""), (500, "<html>down</html>"),
                         (400, "<Response><Errors>"), (200, ""), (200, "not xml")]:
        assert_same(ok(body, status), shape)


# Shapes EC2 does not use (maps, flattened lists, blobs, floats, XML attributes) --------

SYNTHETIC = ServiceModel({
    "metadata": {"protocol": "ec2", "apiVersion": "2016-11-15", "endpointPrefix": "ec2"},
    "operations": {
        "Odd": {"name": "Odd", "http": {"method": "POST", "requestUri": "/"},
                "output": {"shape": "OddResult"}},
        "Attr": {"name": "Attr", "http": {"method": "POST", "requestUri": "/"},
                 "output": {"shape": "AttrResult"}},
    },
    "shapes": {
        "OddResult": {"type": "structure", "members": {
            "Tags": {"shape": "TagMap", "locationName": "tagMap"},
            "Flat": {"shape": "FlatList"},
            "Data": {"shape": "Data", "locationName": "data"},
            "Ratio": {"shape": "Ratio"},
            "When": {"shape": "When"},
            "Nested": {"shape": "OddResult"},
        }},
        "AttrResult": {"type": "structure", "members": {
            "Id": {"shape": "Text", "xmlAttribute": True, "locationName": "id"},
        }},
        "TagMap": {"type": "map", "key": {"shape": "Text", "locationName": "k"},
                   "value": {"shape": "Count", "locationName": "v"}},
        "FlatList": {"type": "list", "member": {"shape": "Text", "locationName": "flat"},
                     "flattened": True},
        "Text": {"type": "string"}, "Count": {"type": "integer"}, "Data": {"type": "blob"},
        "Ratio": {"type": "double"}, "When": {"type": "timestamp"},
    },
}, "ec2")


def test_maps_flattened_lists_blobs_and_recursion_parse_as_botocore_does() -> None:
    shape = SYNTHETIC.operation_model("Odd").output_shape
    assert CompiledEC2Parser().compiled(shape) is not None
    hand = ("<OddResponse><requestId>q</requestId><tagMap><entry><k>a</k><v>1</v></entry>"
            "<entry><k>b</k><v>2</v></entry></tagMap><flat>x</flat><flat>y</flat>"
            "<data>aGVsbG8=</data><Ratio>0.5</Ratio><When>2024-01-15T08:30:00Z</When>"
            "<Nested><flat>z</flat><Nested><Ratio>1</Ratio></Nested></Nested></OddResponse>")
    parsed = assert_same(ok(hand), shape)
    assert parsed["Tags"] == {"a": 1, "b": 2} and parsed["Flat"] == ["x", "y"]
    assert parsed["Nested"]["Nested"] == {"Ratio": 1.0}
    for bad in (False, True):
        bodies = Bodies(random.Random(7 + bad), bad)
        for _ in range(150):
            assert_same(ok(bodies.body(shape, "Odd")), shape)


def test_a_shape_it_cannot_compile_is_left_to_botocore() -> None:
    shape = SYNTHETIC.operation_model("Attr").output_shape
    assert CompiledEC2Parser().compiled(shape) is None
    parsed = assert_same(ok('<AttrResponse id="7"><requestId>q</requestId></AttrResponse>'),
                         shape)
    assert parsed["Id"] == "7"


# Timestamps, the GC pause, the setting --------------------------------------------------

def test_compiled_code_is_kept_for_the_next_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = "def f(node):\n    return {'n': len(node)}"
    fresh = code_for(source, "Test")
    [kept] = (tmp_path / "ec2-connector" / "parsers").iterdir()
    assert code_for(source, "Test") == fresh
    kept.write_bytes(b"not marshalled code")  # a damaged cache entry is compiled again
    assert code_for(source, "Test") == fresh
    assert marshal.loads(kept.read_bytes()) == fresh
    namespace: dict[str, Any] = {}
    exec(code_for(source, "Test"), namespace)
    assert namespace["f"]([1, 2]) == {"n": 2}


def test_fast_timestamps_are_botocore_s() -> None:
    rng = random.Random(3)
    values = [timestamp(rng, bad=True) for _ in range(400)]
    for value in values:
        theirs = outcome_of(parsers.DEFAULT_TIMESTAMP_PARSER, value)
        ours = outcome_of(fast_timestamp, value)
        assert ours == theirs and repr(ours) == repr(theirs), value


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_a_timestamp_read_again_after_the_zone_changed_is_botocore_s(
        zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    value = "2024-01-15T08:30:00.000Z"
    fast_timestamp(value)  # read (and kept) in this process's zone
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        for _ in range(2):  # the first read, and the one kept from it
            theirs = parsers.DEFAULT_TIMESTAMP_PARSER(value)
            ours = fast_timestamp(value)
            assert ours == theirs and repr(ours) == repr(theirs)
    finally:
        monkeypatch.undo()
        time.tzset()


def outcome_of(fn: Callable[[str], Any], value: str) -> Any:
    try:
        return fn(value)
    except Exception as exc:  # the error is the outcome compared
        return ("raised", type(exc), str(exc))


def test_the_gc_is_paused_while_any_thread_parses_and_restored_after() -> None:
    assert gc.isenabled()
    inside: list[bool] = []
    release = threading.Event()

    def parse() -> None:
        with gc_paused():
            inside.append(gc.isenabled())
            release.wait(5)

    threads = [threading.Thread(target=parse) for _ in range(4)]
    for thread in threads:
        thread.start()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
        release.set()
    for thread in threads:
        thread.join(5)
    assert inside == [False] * 4
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a GC someone else turned off stays off
    finally:
        gc.enable()


def test_threads_parsing_at_once_get_botocore_s_answer() -> None:
    shape = EC2.operation_model("DescribeInstances").output_shape
    body = describe_instances_xml(20)
    expected = parsers.EC2QueryParser().parse(ok(body), shape)
    answers: list[Any] = []
    start = threading.Barrier(8)

    def parse() -> None:
        start.wait(10)
        for _ in range(5):
            answers.append(CompiledEC2Parser().parse(ok(body), shape))

    threads = [threading.Thread(target=parse) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 40
    assert all(a == expected and repr(a) == repr(expected) for a in answers)
    assert gc.isenabled()


def test_no_gc_pass_runs_inside_a_big_page_s_parse() -> None:
    """A 1,000-instance page is ~1 M young objects: without the pause the GC walks them
    again and again as they are built. A small answer is parsed without pausing it."""
    shape = EC2.operation_model("DescribeInstances").output_shape
    big, small = describe_instances_xml(1000), describe_instances_xml(1)
    assert len(small) < PAUSE_GC_FROM_BYTES <= len(big)
    passes: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    parser = CompiledParserFactory().create_parser("ec2")
    gc.collect()
    gc.callbacks.append(count)
    try:
        parser.parse(ok(big), shape)
        during = list(passes)
        parsers.EC2QueryParser().parse(ok(big), shape)  # botocore's, for contrast
    finally:
        gc.callbacks.remove(count)
    # One young pass, the one the pause owed, runs as it ends; botocore's parse of the
    # same page, with the GC running, runs hundreds.
    assert during in ([], [0])
    assert len(passes) - len(during) > 50
    assert gc.isenabled()


def test_one_shared_parser_per_factory_answers_many_threads_and_shapes_as_botocore(
) -> None:
    """botocore asks the factory for a parser per response; ours hands out one, shared by
    the client's threads (it keeps nothing between parses), and a new one once the
    factory's defaults change."""
    factory = CompiledParserFactory()
    parser = factory.create_parser("ec2")
    assert factory.create_parser("ec2") is parser
    assert type(factory.create_parser("query")) is parsers.QueryParser
    shapes = [EC2.operation_model(op).output_shape
              for op in ("DescribeInstances", "StopInstances", "StartInstances")]
    bodies = [describe_instances_xml(20), state_change_xml("StopInstances", ["i-1", "i-2"]),
              state_change_xml("StartInstances", ["i-3"])]
    expected = [parsers.EC2QueryParser().parse(ok(b), s)
                for b, s in zip(bodies, shapes, strict=True)]
    answers: list[tuple[int, Any]] = []
    start = threading.Barrier(8)

    def parse(offset: int) -> None:
        start.wait(10)
        for n in range(30):
            k = (n + offset) % 3  # the threads interleave the shapes
            answers.append((k, factory.create_parser("ec2").parse(ok(bodies[k]), shapes[k])))

    threads = [threading.Thread(target=parse, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 240
    assert all(a == expected[k] and repr(a) == repr(expected[k]) for k, a in answers)

    def stamp(value: str) -> str:
        return f"parsed {value}"

    factory.set_parser_defaults(timestamp_parser=stamp)
    again = factory.create_parser("ec2")
    assert again is not parser and factory.create_parser("ec2") is again
    launched = again.parse(ok(bodies[0]), shapes[0])
    first = launched["Reservations"][0]["Instances"][0]["LaunchTime"]
    assert first == parsers.EC2QueryParser(timestamp_parser=stamp).parse(
        ok(bodies[0]), shapes[0])["Reservations"][0]["Instances"][0]["LaunchTime"]
    assert str(first).startswith("parsed ")


def test_an_unbroken_pause_still_collects_young_cycles() -> None:
    """Threads parsing back to back never let the count fall to zero."""

    class Node:
        other: Any = None

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with gc_paused():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        first, second = Node(), Node()
        first.other, second.other = second, first
        alive = weakref.ref(first)
        del first, second
        with gc_paused():
            pass
        assert alive() is not None  # paused: the cycle is still there
        time.sleep(MAX_PAUSE_S + 0.1)
        with gc_paused():
            pass
        assert alive() is None
        assert not gc.isenabled()
    finally:
        release.set()
        holder.join(10)
    assert gc.isenabled()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_setting_chooses_the_parser_of_every_client(enabled: bool) -> None:
    cache = ClientCache(["DescribeInstances"], compiled_parser=enabled)
    target = Target(access_key="AKIAEXAMPLEEXAMPLE00", security_key="s", session_token=None,
                    profile=None, region="us-east-1", endpoint_url="http://127.0.0.1:9",
                    max_attempts=1, retry_mode="standard")
    for clients in (cache, cache.full()):
        # botocore makes a parser per response, from its endpoint's factory
        factory = clients.client_for(target)._endpoint._response_parser_factory
        parser = factory.create_parser("ec2")
        assert isinstance(parser, CompiledEC2Parser) is enabled
        assert isinstance(parser, parsers.EC2QueryParser)


def test_the_connector_answers_the_same_with_the_parser_on_or_off(
    config: dict[str, Any], ec2: Any, image_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named actions and call-operation, end to end: only the parser differs."""
    ec2.run_instances(ImageId=image_id, MinCount=3, MaxCount=3, InstanceType="t2.micro")
    answers = []
    for value in ("on", "off"):
        monkeypatch.setenv("EC2_CONNECTOR_COMPILED_PARSER", value)
        runtime = Runtime()
        try:
            with Call(config=config, runtime=runtime) as call:
                described = call.connector("aws-ec2").set("action", "describe-instances")
                raw = call.connector("aws-ec2").set("action", "call-operation") \
                    .set("operation", "DescribeInstances")
                answers.append([described.sync().data, raw.sync().data])
            client = next(iter(runtime.clients._clients.values()))
            parser = client._endpoint._response_parser_factory.create_parser("ec2")
            assert isinstance(parser, CompiledEC2Parser) is (value == "on")
        finally:
            runtime.close()
    assert answers[0] == answers[1]
    assert len(answers[0][0]["instances-info"]) == 3
