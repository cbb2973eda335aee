"""The launch options of `create-instance`, declared as data: each a parameter and the
RunInstances input member it sets (`"A.B"` nests, `[0]` is the first network interface).

Organisations often deny a launch that lacks one of these by policy (IMDSv2:
`metadata-http-tokens required`), so each is a parameter of its own, checked here and
against botocore's model by the tests (tests/test_declarations.py), never a free-form
fragment. `launch_args` turns the given ones into RunInstances members.

Everything else RunInstances takes goes in `launch-settings`, a fragment in EC2's own
member names, checked against botocore's model before anything is sent, and refused
where a parameter covers the member (one way to say each thing).
"""

from __future__ import annotations

import functools
import json
from typing import Any, ClassVar

from ..errors import InvalidRequest, unknown_name
from ..spec.params import Boolean, Choice, Integer, Param, ParamType, String, canonical

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
# RunInstances members create-instance's other parameters set (instances.py), by parameter.
BASE_MEMBERS = {
    "ImageId": "image-id", "InstanceType": "instance-type", "MinCount": "min-instance",
    "MaxCount": "max-instance", "KeyName": "key-name", "SubnetId": "subnet-id",
    "SecurityGroupIds": "security-group-id", "SecurityGroups": "security-group",
    "UserData": "user-data", "TagSpecifications": "tags", "ClientToken": "client-token",
    "LaunchTemplate": "launch-template-id", "IamInstanceProfile": "iam-instance-profile",
    "InstanceInitiatedShutdownBehavior": "shutdown-behavior",
    "DisableApiTermination": "termination-protection", "DryRun": "dry-run",
    "BlockDeviceMappings": "block-device-mappings", "Placement": "availability-zone",
    # said at the top of RunInstances or in its first interface: ours go in the interface
    "PrivateIpAddress": "private-ip-address", "Ipv6AddressCount": "ipv6-address-count",
}
# Every top-level member a parameter covers -> that parameter: launch-settings may not
# set it. NetworkInterfaces excepted: several interfaces are only said in EC2's form.
COVERED = {
    **BASE_MEMBERS,
    **{m.split(".")[0].removesuffix("[0]"): p.name for p, m in reversed(LAUNCH_OPTIONS)
       if not m.startswith(NIC)},
}


class _Fragment(ParamType):
    """An object of RunInstances members in EC2's names (`{"EnclaveOptions": {"Enabled":
    true}}`), or a JSON string of one; checked against the model when the launch is
    built."""

    name = "object"

    def convert(self, value: Any, param: str) -> dict[str, Any]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                raise InvalidRequest(f"parameter '{param}' is not a valid JSON object") from None
        if not isinstance(value, dict) or not value:
            raise self.fail(param, 'an object of RunInstances members, like '
                            '{"EnclaveOptions": {"Enabled": true}}', value)
        covered = sorted(k for k in value if k in COVERED)
        if covered:
            raise InvalidRequest(f"parameter '{param}' sets {covered[0]}: give the parameter "
                                 f"'{COVERED[covered[0]]}' instead")
        return value


LAUNCH_SETTINGS = Param("launch-settings", _Fragment(),
                        "any other RunInstances members, in EC2's names (checked against "
                        "EC2's model; not those a parameter sets)")
PARAMS = (*(p for p, _ in LAUNCH_OPTIONS), *(p for p, _ in ROOT_VOLUME), DEVICE_NAME,
          LAUNCH_SETTINGS)
SPOT_OPTIONS = ("max-price", "spot-type", "interruption-behavior")
# Members a network interface takes instead of the instance, when there is one.
MOVED_INTO_NIC = {"SubnetId": "SubnetId", "SecurityGroupIds": "Groups"}
NIC_PARAM = next(p.name for p, m in LAUNCH_OPTIONS if m.startswith(NIC))


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
    if p.get("launch-settings"):
        args = _with_settings(args, p["launch-settings"])
    return args


def _with_settings(args: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    if "NetworkInterfaces" in settings:
        # EC2 takes the subnet and groups in the interfaces then, and refuses them beside.
        names = {"NetworkInterfaces": NIC_PARAM, **COVERED}
        beside = [names[m] for m in ("NetworkInterfaces", *MOVED_INTO_NIC) if m in args]
        if beside:
            raise InvalidRequest(f"parameter 'launch-settings' gives NetworkInterfaces: give "
                                 f"'{beside[0]}' inside them, not as a parameter")
    args = {**args, **settings}
    _check_against_model(args)
    return args


@functools.lru_cache(maxsize=1)
def _run_instances_input() -> Any:
    # The full model, read only when a request gives launch-settings.
    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2")
    return model.operation_model("RunInstances").input_shape


def _check_against_model(args: dict[str, Any]) -> None:
    from botocore.validate import ParamValidator

    shape = _run_instances_input()
    unknown = [k for k in args if k not in shape.members]
    if unknown:
        raise unknown_name("RunInstances member", unknown[0], shape.members,
                           " in parameter 'launch-settings'")
    report = ParamValidator().validate(args, shape)
    if report.has_errors():
        text = " ".join(report.generate_report().split())
        raise InvalidRequest(f"parameter 'launch-settings' does not fit RunInstances: {text}")


def _add_root(args: dict[str, Any], device: str | None, ebs: dict[str, Any]) -> None:
    if not device:
        raise InvalidRequest("give 'device-name' (the AMI's root device, e.g. /dev/xvda) "
                             "with the root volume settings")
    mappings = args.get("BlockDeviceMappings") or []  # the request's own list: not changed
    if any(m.get("DeviceName") == device for m in mappings):
        raise InvalidRequest(f"device '{device}' is in both 'block-device-mappings' and "
                             "the root volume settings: give it once")
    args["BlockDeviceMappings"] = [{"DeviceName": device, "Ebs": ebs}, *mappings]


class BlockDevices(ParamType):
    """A list of objects: device-name (required), volume-size, volume-type,
    delete-on-termination, encrypted, snapshot-id, iops; a JSON string of one is accepted."""

    name = "list"
    FIELDS: ClassVar[dict[str, tuple[str, ParamType]]] = {
        "volume-size": ("VolumeSize", Integer(1, 65536)),
        "volume-type": ("VolumeType", Choice("gp2", "gp3", "io1", "io2", "st1", "sc1",
                                              "standard")),
        "delete-on-termination": ("DeleteOnTermination", Boolean()),
        "encrypted": ("Encrypted", Boolean()),
        "snapshot-id": ("SnapshotId", String(r"snap-[0-9a-f]{8}(?:[0-9a-f]{9})?",
                                             "snap-0123456789abcdef0")),
        "iops": ("Iops", Integer(100, 256000)),
    }

    def convert(self, value: Any, param: str) -> list[dict[str, Any]]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise InvalidRequest(f"parameter '{param}' is not a valid JSON list") from None
        if not isinstance(value, list) or not value:
            raise self.fail(param, "a non-empty list of objects", value)
        return [self._one(item, f"{param}[{n}]") for n, item in enumerate(value)]

    def _one(self, item: Any, where: str) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise self.fail(where, "an object", item)
        item = {canonical(str(k)): v for k, v in item.items()}
        unknown = set(item) - {"device-name", *self.FIELDS}
        if unknown:
            raise InvalidRequest(f"parameter '{where}' has an unknown key '{sorted(unknown)[0]}'")
        if "device-name" not in item:
            raise InvalidRequest(f"parameter '{where}' needs 'device-name'")
        ebs = {member: kind.convert(item[key], f"{where}.{key}")
               for key, (member, kind) in self.FIELDS.items() if key in item}
        device = String().convert(item["device-name"], f"{where}.device-name")
        return {"DeviceName": device, **({"Ebs": ebs} if ebs else {})}
