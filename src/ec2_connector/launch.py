"""The launch options of `create-instance`, declared as data: each a parameter and the
RunInstances input member it sets (`"A.B"` nests, `[0]` is the first network interface).

Organisations often deny a launch that lacks one of these by policy (IMDSv2:
`metadata-http-tokens required`), so each is a parameter of its own, checked here and
against botocore's model by the tests (tests/test_declarations.py), never a free-form
fragment. `launch_args` turns the given ones into RunInstances members.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidRequest
from .params import Boolean, Choice, Integer, Param, String

ENABLED = Choice("enabled", "disabled")
VOLUME_TYPES = Choice("gp2", "gp3", "io1", "io2", "st1", "sc1", "standard")
NIC = "NetworkInterfaces[0]"

# parameter -> RunInstances member; the parameter's own declaration sits beside it.
LAUNCH_OPTIONS: tuple[tuple[Param, str], ...] = (
    (Param("metadata-http-tokens", Choice("required", "optional"),
           "IMDSv2: 'required' refuses metadata requests without a session token"),
     "MetadataOptions.HttpTokens"),
    (Param("metadata-hop-limit", Integer(1, 64), "metadata PUT response hop limit (1-64)"),
     "MetadataOptions.HttpPutResponseHopLimit"),
    (Param("metadata-endpoint", ENABLED, "the instance metadata endpoint: enabled|disabled"),
     "MetadataOptions.HttpEndpoint"),
    (Param("metadata-instance-tags", ENABLED, "instance tags in the metadata"),
     "MetadataOptions.InstanceMetadataTags"),
    (Param("associate-public-ip-address", Boolean(), "give the instance a public IPv4 address"),
     f"{NIC}.AssociatePublicIpAddress"),
    (Param("private-ip-address", String(r"\d{1,3}(?:\.\d{1,3}){3}", "10.0.1.10"),
           "its primary private IPv4 address, in the subnet"), f"{NIC}.PrivateIpAddress"),
    (Param("secondary-private-ip-count", Integer(1, 50), "further private IPv4 addresses"),
     f"{NIC}.SecondaryPrivateIpAddressCount"),
    (Param("ipv6-address-count", Integer(1, 50), "IPv6 addresses from the subnet's block"),
     f"{NIC}.Ipv6AddressCount"),
    (Param("market-type", Choice("spot", "capacity-block"), "spot: a spot instance"),
     "InstanceMarketOptions.MarketType"),
    (Param("max-price", String(r"\d+(?:\.\d+)?", "0.05"), "spot: highest hourly price"),
     "InstanceMarketOptions.SpotOptions.MaxPrice"),
    (Param("spot-type", Choice("one-time", "persistent"), "spot: one-time or persistent"),
     "InstanceMarketOptions.SpotOptions.SpotInstanceType"),
    (Param("interruption-behavior", Choice("hibernate", "stop", "terminate"),
           "spot: what an interruption does"),
     "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior"),
    (Param("placement-group", String(), "placement group name"), "Placement.GroupName"),
    (Param("tenancy", Choice("default", "dedicated", "host"), "instance tenancy"),
     "Placement.Tenancy"),
    (Param("host-id", String(r"h-[0-9a-f]{8}(?:[0-9a-f]{9})?", "h-0123456789abcdef0"),
           "dedicated host to launch on"), "Placement.HostId"),
    (Param("credit-specification", Choice("standard", "unlimited"),
           "CPU credits of a burstable (T) instance"), "CreditSpecification.CpuCredits"),
    (Param("ebs-optimized", Boolean(), "EBS-optimised I/O"), "EbsOptimized"),
    (Param("hibernation", Boolean(), "allow hibernation (needs an encrypted root volume)"),
     "HibernationOptions.Configured"),
    (Param("cpu-core-count", Integer(1, 448), "CPU cores"), "CpuOptions.CoreCount"),
    (Param("threads-per-core", Integer(1, 2), "threads per core (1: no hyper-threading)"),
     "CpuOptions.ThreadsPerCore"),
    (Param("capacity-reservation-id", String(r"cr-[0-9a-f]{8}(?:[0-9a-f]{9})?",
                                             "cr-0123456789abcdef0"),
           "launch into this capacity reservation"),
     "CapacityReservationSpecification.CapacityReservationTarget.CapacityReservationId"),
    (Param("capacity-reservation-preference", Choice("open", "none"),
           "use open capacity reservations, or none"),
     "CapacityReservationSpecification.CapacityReservationPreference"),
)

# The root volume: Flint's `storage` and `device-name`, and EBS's settings for it.
ROOT_VOLUME: tuple[tuple[Param, str], ...] = (
    (Param("root-volume-size", Integer(1, 65536), "root volume size in GiB",
           aliases=("storage",)), "VolumeSize"),
    (Param("root-volume-type", VOLUME_TYPES, "root volume type"), "VolumeType"),
    (Param("root-volume-iops", Integer(100, 256000), "root volume IOPS"), "Iops"),
    (Param("root-volume-throughput", Integer(125, 2000), "root volume MiB/s (gp3)"),
     "Throughput"),
    (Param("root-volume-encrypted", Boolean(), "encrypt the root volume"), "Encrypted"),
    (Param("root-volume-kms-key-id", String(), "KMS key for the root volume"), "KmsKeyId"),
    (Param("root-volume-delete-on-termination", Boolean(),
           "delete the root volume with the instance"), "DeleteOnTermination"),
)
DEVICE_NAME = Param("device-name", String(r"/dev/[a-z0-9]+|xvd[a-z]+", "/dev/xvda"),
                    "the root device the root-volume settings apply to (the AMI's, e.g. "
                    "/dev/xvda or /dev/sda1)")
PARAMS = (*(p for p, _ in LAUNCH_OPTIONS), *(p for p, _ in ROOT_VOLUME), DEVICE_NAME)
SPOT_OPTIONS = ("max-price", "spot-type", "interruption-behavior")
# Members a network interface takes instead of the instance, when there is one.
MOVED_INTO_NIC = {"SubnetId": "SubnetId", "SecurityGroupIds": "Groups"}


def _set(args: dict[str, Any], member: str, value: Any) -> None:
    node: Any = args
    parts = member.split(".")
    for part in parts[:-1]:
        if part.endswith("[0]"):
            listed = node.setdefault(part[:-3], [{}])
            node = listed[0]
        else:
            node = node.setdefault(part, {})
    node[parts[-1]] = value


def launch_args(p: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """`args` (RunInstances input) with the launch options given in `p` applied."""
    for param, member in LAUNCH_OPTIONS:
        if p.get(param.name) is not None:
            _set(args, member, p[param.name])
    if any(p.get(n) is not None for n in SPOT_OPTIONS) and "market-type" not in p:
        _set(args, "InstanceMarketOptions.MarketType", "spot")
    if "NetworkInterfaces" in args:
        nic = args["NetworkInterfaces"][0]
        nic["DeviceIndex"] = 0
        for member, in_nic in MOVED_INTO_NIC.items():
            if member in args:
                nic[in_nic] = args.pop(member)
        if "SecurityGroups" in args:
            raise InvalidRequest("parameter 'security-group' (names) cannot go with a network "
                                 "option: give 'security-group-id'")
    root = {member: p[param.name] for param, member in ROOT_VOLUME
            if p.get(param.name) is not None}
    if root:
        _add_root(args, p.get("device-name"), root)
    elif p.get("device-name"):
        raise InvalidRequest("parameter 'device-name' needs a root volume setting, e.g. "
                             "'storage' (its size in GiB)")
    return args


def _add_root(args: dict[str, Any], device: str | None, ebs: dict[str, Any]) -> None:
    if not device:
        raise InvalidRequest("give 'device-name' (the AMI's root device, e.g. /dev/xvda) "
                             "with the root volume settings")
    mappings = args.get("BlockDeviceMappings") or []  # the request's own list: not changed
    if any(m.get("DeviceName") == device for m in mappings):
        raise InvalidRequest(f"device '{device}' is in both 'block-device-mappings' and "
                             "the root volume settings: give it once")
    args["BlockDeviceMappings"] = [{"DeviceName": device, "Ebs": ebs}, *mappings]
