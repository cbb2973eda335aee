"""Benchmark 10: parsing EC2's XML, botocore's parser against the compiled one (issue 19).

Three bodies as the canned endpoint renders them (tests/harness/canned.py): a
StopInstances answer, and DescribeInstances pages of 50 and of 1,000 instances. Each is
parsed, in one process and in interleaved rounds, each through its parser factory as a
client does (asked for a parser per response): botocore's `EC2QueryParser` as boto3 has
it (dateutil timestamps); the same with the connector's `wire.parse_timestamp` (the
connector before issue 19, and with EC2_CONNECTOR_COMPILED_PARSER=off); the compiled
parser (xmlparser.py); its functions with the cyclic GC left running; and the C
ElementTree tree alone (GC paused), the floor any parser over it pays. The compiled parser's answer
is checked equal (`==` and `repr`) to botocore's before anything is timed.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import partial
from typing import Any
from xml.etree.ElementTree import TreeBuilder, XMLParser

from bench.endpoints import instance_id
from bench.measure import Figure, interleaved, median, per_call
from tests.harness.canned import describe_instances_xml, state_change_xml

GOALS = {"StopInstances": 0.6, "50 instances": 0.3, "1,000 instances": 0.3}


def bodies() -> dict[str, tuple[str, bytes, int]]:
    """name -> (operation, body, parses per sample)."""
    stop = state_change_xml("StopInstances", [instance_id(0)])
    return {
        "StopInstances": ("StopInstances", stop, 2000),
        "50 instances": ("DescribeInstances", describe_instances_xml(50), 20),
        "1,000 instances": ("DescribeInstances", describe_instances_xml(1000), 1),
    }


def _response(body: bytes) -> dict[str, Any]:
    return {"body": body, "status_code": 200, "context": {},
            "headers": {"content-type": "text/xml;charset=UTF-8", "server": "AmazonEC2"}}


def _tree(body: bytes) -> Any:
    """The floor: the C tree alone, built with the GC paused as the compiled parser does."""
    from ec2_connector.transport.xmlparser import pause_gc, resume_gc

    pause_gc()
    try:
        parser = XMLParser(target=TreeBuilder(), encoding="utf-8")
        parser.feed(body)
        return parser.close()
    finally:
        resume_gc()


def _variants(operation: str, body: bytes) -> dict[str, Callable[[], object]]:
    import botocore.session
    from botocore import parsers

    from ec2_connector.transport import wire
    from ec2_connector.transport.xmlparser import CompiledEC2Parser, CompiledParserFactory

    shape = botocore.session.get_session().get_service_model("ec2") \
        .operation_model(operation).output_shape
    compiled = CompiledEC2Parser()
    fn = compiled.compiled(shape)
    assert fn is not None
    botocore_answer = parsers.EC2QueryParser().parse(_response(body), shape)
    ours = compiled.parse(_response(body), shape)
    if ours != botocore_answer or repr(ours) != repr(botocore_answer):
        raise RuntimeError(f"the compiled parser's answer differs on {operation}")

    def gc_running() -> object:
        if not gc.isenabled():
            raise RuntimeError("the GC is off")
        return compiled.parse_with(fn, body)

    # As a client parses: its session's factory, asked for a parser for every response.
    botocore_factory = parsers.ResponseParserFactory()
    before_factory = parsers.ResponseParserFactory()
    before_factory.set_parser_defaults(timestamp_parser=wire.parse_timestamp)
    factory = CompiledParserFactory()
    return {
        "botocore": lambda: botocore_factory.create_parser("ec2").parse(_response(body), shape),
        "connector before": lambda: before_factory.create_parser("ec2").parse(
            _response(body), shape),
        "compiled": lambda: factory.create_parser("ec2").parse(_response(body), shape),
        "compiled, GC running": gc_running,
        "tree alone": lambda: _tree(body),
    }


def _figure(name: str, results: dict[str, list[float]]) -> Figure:
    ms = {k: median(v) * 1000 for k, v in results.items()}
    ours, base = ms["compiled"], ms["botocore"]
    note = (f"connector before {ms['connector before']:.3g} ms; compiled with the GC "
            f"running {ms['compiled, GC running']:.3g} ms; the C tree alone "
            f"{ms['tree alone']:.3g} ms")
    return Figure("10. XML parsing", name, ours, base, "ms/parse",
                  f"≤ {GOALS[name]}x botocore", ours / base <= GOALS[name], note,
                  {k: [s * 1000 for s in v] for k, v in results.items()})


def run(rounds: int = 9) -> list[Figure]:
    figures = []
    for name, (operation, body, calls) in bodies().items():
        variants = _variants(operation, body)
        for fn in variants.values():  # warm up: functions compiled, caches filled
            fn()
        samples = {k: partial(per_call, fn, calls) for k, fn in variants.items()}
        figures.append(_figure(name, interleaved(samples, rounds)))
    return figures
