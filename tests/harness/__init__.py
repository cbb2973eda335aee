"""Loopback test/benchmark servers that imitate (and sabotage) an EC2 endpoint.

``faults`` holds hostile servers (refused, black hole, mute, silent, slow, endless body,
dropping, garbage, throttling, throttling proxy); ``canned`` holds a fast stateless EC2
endpoint.  All bind 127.0.0.1 on a free port and support ``start()``/``stop()``/``with``.
"""

from tests.harness.canned import (
    CannedEC2Server,
    InstanceCatalog,
    describe_instances_xml,
    instance_id,
)
from tests.harness.faults import (
    BlackHoleServer,
    CaptureServer,
    DroppingServer,
    EndlessBodyServer,
    FaultProxy,
    GarbageServer,
    HTTPHarnessServer,
    LoopbackServer,
    MuteServer,
    RefusingEndpoint,
    RequestHandler,
    SilentServer,
    SlowServer,
    ThrottlingServer,
    ec2_error_xml,
    ec2_response_xml,
    empty_describe_instances_xml,
    free_port,
)

__all__ = [
    "BlackHoleServer",
    "CannedEC2Server",
    "CaptureServer",
    "DroppingServer",
    "EndlessBodyServer",
    "FaultProxy",
    "GarbageServer",
    "HTTPHarnessServer",
    "InstanceCatalog",
    "LoopbackServer",
    "MuteServer",
    "RefusingEndpoint",
    "RequestHandler",
    "SilentServer",
    "SlowServer",
    "ThrottlingServer",
    "describe_instances_xml",
    "ec2_error_xml",
    "ec2_response_xml",
    "empty_describe_instances_xml",
    "free_port",
    "instance_id",
]
