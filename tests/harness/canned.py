"""A canned, stateless, fast EC2 endpoint for benchmarks and client tests.

Every instance's XML is rendered once at construction; a request only slices
and joins pre-encoded fragments.  That keeps server cost near zero so a
benchmark measures the client (botocore serialization, HTTP, XML parsing),
not the fake.  Unlike moto there is no state machine: Stop/Start/Terminate
just echo the requested ids with the usual state transition.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Literal

from tests.harness.faults import (
    HTTPHarnessServer,
    RequestHandler,
    ec2_error_xml,
    ec2_response_xml,
    xml_escape,
)

OWNER_ID = "123456789012"
_ID_SPACE = 16**17  # 17 hex digits
_ID_RE = re.compile(r"^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$")
_BASE_TIME = datetime(2024, 1, 15, 8, 30, tzinfo=UTC)
_AZS = ("us-east-1a", "us-east-1b", "us-east-1c")
_TYPES = ("t3.micro", "t3.small", "m5.large", "c5.xlarge")

Params = dict[str, str]
Detail = Literal["basic", "full"]
Answer = tuple[int, bytes]


def resource_id(prefix: str, index: int, salt: int = 0) -> str:
    """Deterministic, unique, random-looking ``{prefix}-`` + 17 hex digits.

    Multiplying by an odd constant is a bijection modulo 2**68, so ids never
    collide for distinct indexes yet do not look sequential.
    """
    value = (
        index * 0x9E3779B97F4A7C15 + 0x0A1B2C3D4E5F60718 + salt * 0x5DEECE66D1234567
    ) % _ID_SPACE
    return f"{prefix}-{value:017x}"


def instance_id(index: int) -> str:
    """Id of the ``index``-th canned instance (``i-`` + 17 hex digits)."""
    return resource_id("i", index)


def _ts(moment: datetime) -> str:
    """EC2 timestamp format, e.g. ``2024-01-15T08:30:00.000Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _state(code: int, name: str) -> str:
    return f"<code>{code}</code><name>{name}</name>"


@dataclass(frozen=True)
class _Facts:
    """Derived, deterministic per-instance values shared by the XML sections."""

    index: int
    private_ip: str
    public_ip: str
    subnet: str
    launched: str

    @classmethod
    def of(cls, index: int) -> _Facts:
        n = index + 10
        octets = f"{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        subnet = resource_id("subnet", index % len(_AZS), 1)
        launched = _ts(_BASE_TIME + timedelta(minutes=index))
        return cls(index, f"10.{octets}", f"54.{octets}", subnet, launched)

    @property
    def private_dns(self) -> str:
        return f"ip-{self.private_ip.replace('.', '-')}.ec2.internal"

    @property
    def public_dns(self) -> str:
        return f"ec2-{self.public_ip.replace('.', '-')}.compute-1.amazonaws.com"


_VPC, _SG = resource_id("vpc", 0, 2), resource_id("sg", 0, 3)
_GROUPS = (
    f"<groupSet><item><groupId>{_SG}</groupId><groupName>bench-sg</groupName></item></groupSet>"
)


def render_instance(index: int, detail: Detail = "full") -> str:
    """Render one instance ``<item>`` shaped like a real DescribeInstances record.

    ``basic`` keeps the commonly read top-level fields (~1.3 KB); ``full``
    adds block devices, the network interface and option blocks (~4 KB),
    which is what real records weigh and what botocore must parse.
    """
    f = _Facts.of(index)
    extras = _render_full_extras(f) if detail == "full" else ""
    return f"<item>{_render_core(f)}{extras}</item>"


def _render_core(f: _Facts) -> str:
    """Top-level instance fields most automation reads."""
    return (
        f"<instanceId>{instance_id(f.index)}</instanceId>"
        "<imageId>ami-0c02fb55956c7d316</imageId>"
        f"<instanceState>{_state(16, 'running')}</instanceState>"
        f"<privateDnsName>{f.private_dns}</privateDnsName><dnsName>{f.public_dns}</dnsName>"
        "<reason/><keyName>bench-key</keyName>"
        f"<amiLaunchIndex>{f.index % 4}</amiLaunchIndex><productCodes/>"
        f"<instanceType>{_TYPES[f.index % len(_TYPES)]}</instanceType>"
        f"<launchTime>{f.launched}</launchTime>"
        f"<placement><availabilityZone>{_AZS[f.index % len(_AZS)]}</availabilityZone>"
        "<groupName/><tenancy>default</tenancy></placement>"
        "<monitoring><state>disabled</state></monitoring>"
        f"<subnetId>{f.subnet}</subnetId><vpcId>{_VPC}</vpcId>"
        f"<privateIpAddress>{f.private_ip}</privateIpAddress><ipAddress>{f.public_ip}</ipAddress>"
        f"<sourceDestCheck>true</sourceDestCheck>{_GROUPS}"
        "<architecture>x86_64</architecture>"
        "<rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName>"
        "<virtualizationType>hvm</virtualizationType>"
        f"<clientToken>bench-{f.index:08d}</clientToken>"
        f"<tagSet><item><key>Name</key><value>bench-{f.index:05d}</value></item>"
        "<item><key>env</key><value>bench</value></item></tagSet>"
        "<hypervisor>xen</hypervisor><ebsOptimized>false</ebsOptimized>"
    )


def _render_full_extras(f: _Facts) -> str:
    """Nested blocks a real record carries; they dominate parse cost."""
    return (
        "<blockDeviceMapping><item><deviceName>/dev/xvda</deviceName>"
        f"<ebs><volumeId>{resource_id('vol', f.index, 4)}</volumeId><status>attached</status>"
        f"<attachTime>{f.launched}</attachTime><deleteOnTermination>true</deleteOnTermination>"
        "</ebs></item></blockDeviceMapping>"
        f"{_render_eni(f)}<enaSupport>true</enaSupport>"
        "<cpuOptions><coreCount>1</coreCount><threadsPerCore>2</threadsPerCore></cpuOptions>"
        "<capacityReservationSpecification><capacityReservationPreference>open"
        "</capacityReservationPreference></capacityReservationSpecification>"
        "<hibernationOptions><configured>false</configured></hibernationOptions>"
        "<metadataOptions><state>applied</state><httpTokens>required</httpTokens>"
        "<httpPutResponseHopLimit>2</httpPutResponseHopLimit><httpEndpoint>enabled</httpEndpoint>"
        "<httpProtocolIpv6>disabled</httpProtocolIpv6>"
        "<instanceMetadataTags>disabled</instanceMetadataTags></metadataOptions>"
        "<enclaveOptions><enabled>false</enabled></enclaveOptions>"
        "<bootMode>uefi-preferred</bootMode><platformDetails>Linux/UNIX</platformDetails>"
        f"<usageOperation>RunInstances</usageOperation><usageOperationUpdateTime>{f.launched}"
        "</usageOperationUpdateTime><maintenanceOptions><autoRecovery>default</autoRecovery>"
        "</maintenanceOptions><currentInstanceBootMode>legacy-bios</currentInstanceBootMode>"
    )


def _render_eni(f: _Facts) -> str:
    """The primary network interface; a large share of a real record's bytes."""
    assoc = (
        f"<association><publicIp>{f.public_ip}</publicIp><publicDnsName>{f.public_dns}"
        "</publicDnsName><ipOwnerId>amazon</ipOwnerId></association>"
    )
    mac = "0e:" + ":".join(f"{(f.index >> shift) & 255:02x}" for shift in (32, 24, 16, 8, 0))
    return (
        "<networkInterfaceSet><item>"
        f"<networkInterfaceId>{resource_id('eni', f.index, 5)}</networkInterfaceId>"
        f"<subnetId>{f.subnet}</subnetId><vpcId>{_VPC}</vpcId><description/>"
        f"<ownerId>{OWNER_ID}</ownerId><status>in-use</status><macAddress>{mac}</macAddress>"
        f"<privateIpAddress>{f.private_ip}</privateIpAddress>"
        f"<privateDnsName>{f.private_dns}</privateDnsName><sourceDestCheck>true</sourceDestCheck>"
        f"{_GROUPS}<attachment><attachmentId>{resource_id('eni-attach', f.index, 6)}"
        "</attachmentId><deviceIndex>0</deviceIndex><status>attached</status>"
        f"<attachTime>{f.launched}</attachTime><deleteOnTermination>true"
        "</deleteOnTermination><networkCardIndex>0</networkCardIndex></attachment>"
        f"{assoc}<privateIpAddressesSet><item><privateIpAddress>{f.private_ip}</privateIpAddress>"
        f"<privateDnsName>{f.private_dns}</privateDnsName><primary>true</primary>{assoc}"
        "</item></privateIpAddressesSet><ipv6AddressesSet/>"
        "<interfaceType>interface</interfaceType></item></networkInterfaceSet>"
    )


class InstanceCatalog:
    """Pre-rendered instances grouped into reservations; pages are slices + join.

    ``per_reservation`` instances share a reservation.  A page boundary may
    split a reservation, as real EC2 pagination (counting instances) does.
    """

    def __init__(self, count: int, per_reservation: int = 1, detail: Detail = "full") -> None:
        if count < 0 or per_reservation < 1:
            raise ValueError("count must be >= 0 and per_reservation >= 1")
        self.per_reservation = per_reservation
        self.ids: tuple[str, ...] = tuple(instance_id(i) for i in range(count))
        self.index_of = {iid: i for i, iid in enumerate(self.ids)}
        self._items = [render_instance(i, detail).encode() for i in range(count)]
        reservations = (count + per_reservation - 1) // per_reservation
        self._heads = [self._reservation_head(r) for r in range(reservations)]

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def _reservation_head(r: int) -> bytes:
        return (
            f"<item><reservationId>{resource_id('r', r, 7)}</reservationId>"
            f"<ownerId>{OWNER_ID}</ownerId><groupSet/><instancesSet>"
        ).encode()

    def reservations_xml(self, indexes: Sequence[int]) -> bytes:
        """``<reservationSet>`` for the given instance indexes, consecutive ones grouped."""
        parts = [b"<reservationSet>"]
        for r, members in groupby(indexes, key=lambda i: i // self.per_reservation):
            parts.append(self._heads[r])
            parts.extend(self._items[i] for i in members)
            parts.append(b"</instancesSet></item>")
        parts.append(b"</reservationSet>")
        return b"".join(parts)

    def page(self, offset: int, limit: int) -> tuple[bytes, int | None]:
        """Inner XML for ``limit`` instances from ``offset`` and the next offset (or None)."""
        end = min(offset + limit, len(self.ids))
        next_offset = end if end < len(self.ids) else None
        return self.reservations_xml(range(offset, end)), next_offset


def describe_instances_xml(n: int, per_reservation: int = 1, detail: Detail = "full") -> bytes:
    """A complete, unpaginated DescribeInstances response with ``n`` canned instances."""
    inner, _ = InstanceCatalog(n, per_reservation, detail).page(0, n)
    return ec2_response_xml("DescribeInstances", inner)


def encode_token(offset: int) -> str:
    """Opaque NextToken for an offset (clients must not parse it)."""
    return base64.urlsafe_b64encode(f"canned:{offset}".encode()).decode()


def decode_token(token: str) -> int | None:
    """Offset from a NextToken, or None if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "canned" and number.isdigit() else None


def indexed_params(params: Params, name: str) -> list[str]:
    """Values of ``Name.1``, ``Name.2``... in numeric order (EC2 list serialization)."""
    found = []
    for key, value in params.items():
        base, _, number = key.partition(".")
        if base == name and number.isdigit():
            found.append((int(number), value))
    return [value for _, value in sorted(found)]


def _error(status: int, code: str, message: str) -> Answer:
    return status, ec2_error_xml(code, message)


_TRANSITIONS = {
    "StopInstances": ((16, "running"), (64, "stopping")),
    "StartInstances": ((80, "stopped"), (0, "pending")),
    "TerminateInstances": ((16, "running"), (32, "shutting-down")),
}


def state_change_xml(action: str, ids: Sequence[str]) -> bytes:
    """instancesSet of previous/current states for Stop/Start/Terminate."""
    (prev_code, prev_name), (cur_code, cur_name) = _TRANSITIONS[action]
    items = "".join(
        f"<item><instanceId>{xml_escape(iid)}</instanceId>"
        f"<currentState>{_state(cur_code, cur_name)}</currentState>"
        f"<previousState>{_state(prev_code, prev_name)}</previousState></item>"
        for iid in ids
    )
    return ec2_response_xml(action, f"<instancesSet>{items}</instancesSet>")


class CannedEC2Server(HTTPHarnessServer):
    """Fast fake EC2 endpoint answering from pre-rendered XML.

    Supports DescribeInstances (paginated via MaxResults/NextToken, or by
    ``InstanceId.N``), Stop/Start/TerminateInstances, RebootInstances,
    DescribeRegions (``REGIONS``, one of them not opted in);
    anything else is a 400 ``InvalidAction``.  ``delay_ms`` (settable while
    running) is waited per request in that connection's own thread, so
    concurrent requests overlap.  ``DryRun=true`` answers 412 DryRunOperation.
    ``detail="basic"`` renders lighter records when parse cost would dominate.
    """

    def __init__(
        self,
        instances: int = 50,
        delay_ms: float = 0,
        page_size: int = 1000,
        *,
        per_reservation: int = 1,
        detail: Detail = "full",
    ) -> None:
        super().__init__()
        self.catalog = InstanceCatalog(instances, per_reservation, detail)
        self.delay_ms = delay_ms
        self.page_size = page_size
        self._served_lock = threading.Lock()
        self._served: Counter[str] = Counter()
        self._actions: dict[str, Callable[[Params], Answer]] = {
            "DescribeInstances": self._describe,
            "StopInstances": self._change_state,
            "StartInstances": self._change_state,
            "TerminateInstances": self._change_state,
            "RebootInstances": self._reboot,
            "DescribeRegions": _regions,
        }

    @property
    def instance_ids(self) -> tuple[str, ...]:
        """All canned instance ids, in page order."""
        return self.catalog.ids

    @property
    def requests_served(self) -> int:
        """Responses written (counted as writing starts), all actions and errors included."""
        with self._served_lock:
            return sum(self._served.values())

    @property
    def served_by_action(self) -> dict[str, int]:
        """Responses written per ``Action`` value (a copy)."""
        with self._served_lock:
            return dict(self._served)

    def respond(self, req: RequestHandler) -> None:
        params = req.params()
        status, body = self.answer(params)
        if req.pause(self.delay_ms / 1000.0):
            req.drop()
            return
        # Counted before the first byte goes out: a client holding its answer
        # must find it counted, or tests race the server thread.
        with self._served_lock:
            self._served[params.get("Action", "")] += 1
        req.send_body(status, body)

    def answer(self, params: Params) -> Answer:
        """Compute the (status, XML body) for one request's parameters; no I/O."""
        action = params.get("Action", "")
        handler = self._actions.get(action)
        if handler is None:
            return _error(
                400, "InvalidAction", f"The action {action} is not valid for this web service."
            )
        if params.get("DryRun", "").lower() == "true":
            return _error(
                412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."
            )
        return handler(params)

    def _describe(self, params: Params) -> Answer:
        ids = indexed_params(params, "InstanceId")
        if ids:
            return self._describe_ids(ids)
        limit_text = params.get("MaxResults")
        offset = decode_token(params["NextToken"]) if "NextToken" in params else 0
        if offset is None or offset > len(self.catalog):
            return _error(400, "InvalidParameterValue", "The specified NextToken is not valid.")
        if limit_text is not None and not (limit_text.isdigit() and int(limit_text) > 0):
            return _error(400, "InvalidParameterValue", f"Invalid MaxResults: {limit_text}")
        limit = int(limit_text) if limit_text else self.page_size
        inner, next_offset = self.catalog.page(offset, limit)
        if next_offset is not None:
            inner += f"<nextToken>{encode_token(next_offset)}</nextToken>".encode()
        return 200, ec2_response_xml("DescribeInstances", inner)

    def _describe_ids(self, ids: list[str]) -> Answer:
        for iid in ids:
            if not _ID_RE.match(iid):
                return _error(400, "InvalidInstanceID.Malformed", f'Invalid id: "{iid}"')
        missing = [iid for iid in ids if iid not in self.catalog.index_of]
        if missing:
            listed = ", ".join(missing)
            return _error(
                400, "InvalidInstanceID.NotFound", f"The instance IDs '{listed}' do not exist"
            )
        inner = self.catalog.reservations_xml([self.catalog.index_of[iid] for iid in ids])
        return 200, ec2_response_xml("DescribeInstances", inner)

    def _change_state(self, params: Params) -> Answer:
        ids = indexed_params(params, "InstanceId")
        if not ids:
            return _missing_instance_ids()
        return 200, state_change_xml(params["Action"], ids)

    def _reboot(self, params: Params) -> Answer:
        if not indexed_params(params, "InstanceId"):
            return _missing_instance_ids()
        return 200, ec2_response_xml("RebootInstances", "<return>true</return>")


# The 17 regions enabled by default, and one an account must opt in to: the same canned
# answer serves every region (a fan-out over `region: "*"` against one endpoint).
REGIONS = (
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1",
    "ap-southeast-2", "ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1",
    "eu-west-2", "eu-west-3", "sa-east-1", "us-east-1", "us-east-2", "us-west-1",
    "us-west-2",
)
NOT_OPTED_IN = "af-south-1"


def _regions(params: Params) -> Answer:
    status = [(name, "opt-in-not-required") for name in REGIONS]
    items = "".join(
        f"<item><regionName>{name}</regionName><regionEndpoint>ec2.{name}.amazonaws.com"
        f"</regionEndpoint><optInStatus>{opt_in}</optInStatus></item>"
        for name, opt_in in [*status, (NOT_OPTED_IN, "not-opted-in")])
    return 200, ec2_response_xml("DescribeRegions", f"<regionInfo>{items}</regionInfo>")


def _missing_instance_ids() -> Answer:
    return _error(400, "MissingParameter", "The request must contain the parameter InstanceId")
