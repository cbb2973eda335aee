"""The compiled EC2 parser gives botocore's answer: the same dicts (`==` and `repr`) and the
same exceptions, on moto's answers to every operation the catalog calls and on bodies
generated from the model, good and bad."""

from __future__ import annotations

import base64
import gc
import ipaddress
import marshal
import random
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import boto3
import botocore.session
import pytest
from botocore import parsers
from botocore.model import ServiceModel, Shape

from ec2_connector import Call
from ec2_connector.actions import catalog
from ec2_connector.config import Target
from ec2_connector.runtime import Runtime
from ec2_connector.transport.clients import ClientCache
from ec2_connector.transport.xmlparser import (
    MAX_PAUSE_S,
    CompiledEC2Parser,
    code_for,
    fast_timestamp,
    gc_paused,
)
from tests.harness.calls import PUBLIC_KEY
from tests.harness.canned import describe_instances_xml
from tests.harness.parsers import assert_same, ok

EC2 = botocore.session.get_session().get_service_model("ec2")
NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"
OPERATIONS = catalog.operations()


# (a) moto's answers, every operation of the catalog -----------------------------------

def _scenario(ec2: Any, image_id: str) -> None:
    """One call (or more) of every operation the catalog uses, against moto."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    spare_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    cidr = ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.1.0.0/16")
    ec2.disassociate_vpc_cidr_block(AssociationId=cidr["CidrBlockAssociation"]["AssociationId"])
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    v6 = ec2.create_vpc(CidrBlock="10.8.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    v6_block = ec2.describe_vpcs(VpcIds=[v6["VpcId"]])["Vpcs"][0][
        "Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    v6_subnet = ec2.create_subnet(VpcId=v6["VpcId"], CidrBlock="10.8.1.0/24")["Subnet"]
    v6_added = ec2.associate_subnet_cidr_block(
        SubnetId=v6_subnet["SubnetId"],
        Ipv6CidrBlock=str(next(ipaddress.ip_network(v6_block).subnets(new_prefix=64))))
    ec2.disassociate_subnet_cidr_block(
        AssociationId=v6_added["Ipv6CidrBlockAssociation"]["AssociationId"])
    spare_subnet = ec2.create_subnet(VpcId=spare_vpc, CidrBlock="10.9.1.0/24")["Subnet"]
    ipv6 = ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True)
    block = ipv6["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"]  # a /56: its first /64
    added = ec2.associate_subnet_cidr_block(SubnetId=subnet,
                                            Ipv6CidrBlock=block.replace("/56", "/64"))
    ec2.disassociate_subnet_cidr_block(
        AssociationId=added["Ipv6CidrBlockAssociation"]["AssociationId"])
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    spare_group = ec2.create_security_group(GroupName="spare", Description="x",
                                            VpcId=spare_vpc)["GroupId"]
    for direction in ("ingress", "egress"):
        permissions = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                        "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}]
        getattr(ec2, f"authorize_security_group_{direction}")(
            GroupId=group, IpPermissions=permissions)
        getattr(ec2, f"revoke_security_group_{direction}")(
            GroupId=group, IpPermissions=permissions)
    ec2.create_key_pair(KeyName="made")
    ec2.import_key_pair(KeyName="mine", PublicKeyMaterial=PUBLIC_KEY)
    ec2.describe_key_pairs()
    ec2.delete_key_pair(KeyName="mine")
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=image_id, MinCount=3, MaxCount=3, InstanceType="t2.micro", SubnetId=subnet,
        KeyName="made", SecurityGroupIds=[group],
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": "Name", "Value": "a&b <c>"}]}])["Instances"]]
    ec2.create_tags(Resources=ids[:1], Tags=[{"Key": "team", "Value": "ops"}])
    ec2.describe_tags()
    ec2.delete_tags(Resources=ids[:1], Tags=[{"Key": "team"}])
    ec2.stop_instances(InstanceIds=ids[:1])
    ec2.start_instances(InstanceIds=ids[:1])
    ec2.reboot_instances(InstanceIds=ids[:1])
    ec2.modify_instance_attribute(InstanceId=ids[0], DisableApiTermination={"Value": False})
    ec2.get_console_output(InstanceId=ids[0])
    ec2.describe_instances()
    ec2.describe_instance_status(IncludeAllInstances=True)
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=ids[1], Device="/dev/sdf")
    ec2.describe_volumes()
    ec2.detach_volume(VolumeId=volume, InstanceId=ids[1], Device="/dev/sdf")
    ec2.modify_volume(VolumeId=volume, Size=2)
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    copied = ec2.copy_snapshot(SourceSnapshotId=snapshot, SourceRegion="us-east-1")
    ec2.describe_snapshots(OwnerIds=["self"])
    ec2.delete_snapshot(SnapshotId=copied["SnapshotId"])
    ec2.delete_volume(VolumeId=volume)
    image = ec2.create_image(InstanceId=ids[0], Name="img")["ImageId"]
    other = ec2.copy_image(Name="copy", SourceImageId=image, SourceRegion="us-east-1")
    ec2.describe_images(Owners=["self"])
    ec2.describe_images(ImageIds=[image_id])
    ec2.deregister_image(ImageId=other["ImageId"])
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    association = ec2.associate_address(AllocationId=allocation, InstanceId=ids[0])
    ec2.describe_addresses()
    ec2.disassociate_address(AssociationId=association["AssociationId"])
    ec2.release_address(AllocationId=allocation)
    ec2.create_launch_template(LaunchTemplateName="tpl", LaunchTemplateData={
        "ImageId": image_id, "InstanceType": "t2.micro"})
    ec2.describe_launch_templates()
    ec2.delete_launch_template(LaunchTemplateName="tpl")
    ec2.describe_availability_zones()
    ec2.describe_regions()
    ec2.describe_subnets()
    ec2.describe_vpcs()
    ec2.describe_security_groups()
    ec2.terminate_instances(InstanceIds=ids[2:])
    ec2.delete_security_group(GroupId=spare_group)
    ec2.delete_subnet(SubnetId=spare_subnet["SubnetId"])
    ec2.delete_vpc(VpcId=spare_vpc)
    with pytest.raises(ec2.exceptions.ClientError):  # an error body, parsed by both too
        ec2.stop_instances(InstanceIds=["i-0123456789abcdef0"])


def test_moto_answers_to_every_catalog_operation_parse_as_botocore_does(
    endpoint: str, image_id: str
) -> None:
    captured: list[tuple[str, dict[str, Any], Shape | None]] = []

    def capture(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        response = {**response_dict, "headers": dict(response_dict["headers"])}
        captured.append((operation_model.name, response, operation_model.output_shape))

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    ec2.meta.events.register("before-parse.ec2.*", capture)
    _scenario(ec2, image_id)

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

def _timestamp(rng: random.Random, bad: bool) -> str:
    moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**9))
    if bad and rng.random() < 0.5:
        return rng.choice([
            "", "soon", "2024-13-01T00:00:00Z", "2024-02-30T08:00:00.000Z", "1700000000",
            "2024-01-15T08:30:00+01:00", "2024-01-15 08:30:00", "2024-01-15T08:30:00",
            "Mon, 15 Jan 2024 08:30:00 GMT", "2024-01-15T08:30:00.1234567Z",
            "2024-01-15T24:00:00Z", "2024-01-15T08:30:00z",
            "\uff12\uff10\uff12\uff14-01-15T08:30:00Z"])
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + rng.choice(
        ["Z", ".000Z", f".{rng.randrange(10**6):06d}Z", f".{rng.randrange(10)}Z"])


def _scalar(kind: str, rng: random.Random, bad: bool) -> str:
    if bad and rng.random() < 0.3:
        return rng.choice(["", " 7 ", "x1", "1.5", "TRUE", "nan", "-", "1_000", "==", "é"])
    if kind == "timestamp":
        return _timestamp(rng, bad)
    if kind == "boolean":
        return rng.choice(["true", "false"])
    if kind in ("integer", "long"):
        return str(rng.randrange(-(2**40), 2**40))
    if kind in ("float", "double"):
        return repr(rng.uniform(-1e6, 1e6))
    if kind == "blob":
        return base64.b64encode(rng.randbytes(rng.randrange(12))).decode()
    alphabet = "abcXYZ09 -_.:/<>&\"'éß☃"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))


class Bodies:
    """Random XML for a shape: members present or missing, in any order, sometimes
    repeated or unknown; values good, or (bad=True) wrong for their type."""

    def __init__(self, rng: random.Random, bad: bool) -> None:
        self.rng, self.bad = rng, bad

    def element(self, shape: Any, tag: str, depth: int) -> str:
        kind = shape.type_name
        if kind == "structure":
            inner = self.members(shape, depth + 1) if depth < 6 else ""
        elif kind == "list":
            name = shape.member.serialization.get("name", "member")
            items = [self.element(shape.member, name, depth + 1)
                     for _ in range(self.rng.randrange(4 if depth < 6 else 1))]
            if shape.serialization.get("flattened"):
                return "".join(items)
            inner = "".join(items)
        elif kind == "map":
            inner = "".join(
                f"<entry>{self.element(shape.key, 'key', depth + 1)}"
                f"{self.element(shape.value, 'value', depth + 1)}</entry>"
                for _ in range(self.rng.randrange(3)))
        else:
            inner = escape(_scalar(kind, self.rng, self.bad))
        return f"<{tag}>{inner}</{tag}>" if inner or self.rng.random() < 0.5 else f"<{tag}/>"

    def members(self, shape: Any, depth: int) -> str:
        parts = []
        for name, member in shape.members.items():
            if self.rng.random() < 0.25:
                continue
            tag = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                tag = member.member.serialization.get("name", tag)
            repeats = 2 if self.bad and self.rng.random() < 0.05 else 1
            parts += [self.element(member, tag, depth) for _ in range(repeats)]
        if self.rng.random() < 0.1:
            parts.append("<unmodelled><item>1</item></unmodelled>")
        self.rng.shuffle(parts)
        return "".join(parts)

    def body(self, shape: Any, operation: str) -> bytes:
        xmlns = f' xmlns="{NAMESPACE}"' if self.rng.random() < 0.8 else ""
        request_id = "<requestId>req-1</requestId>" if self.rng.random() < 0.9 else ""
        text = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{operation}Response{xmlns}>'
                f"{request_id}{self.members(shape, 0)}</{operation}Response>")
        data = text.encode()
        if self.bad and self.rng.random() < 0.15:
            data = data[: self.rng.randrange(len(data))]  # truncated
        elif self.bad and self.rng.random() < 0.05:
            data = self.rng.randbytes(40) + data  # garbage
        return data


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
    values = [_timestamp(rng, bad=True) for _ in range(400)]
    for value in values:
        theirs = outcome_of(parsers.DEFAULT_TIMESTAMP_PARSER, value)
        ours = outcome_of(fast_timestamp, value)
        assert ours == theirs and repr(ours) == repr(theirs), value


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
