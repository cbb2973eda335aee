"""Client tokens: one token, one create, with the same parameters.

EC2 honours `ClientToken` itself on a few operations, and many compatible endpoints
ignore it, so the connector keeps its own record on what it creates: a tag with the
token and a tag with a digest of the create's defining parameters. A create with a token
first looks for resources whose token tag equals it exactly (a tag filter alone would
treat `*` and `?` as wildcards); with other parameters it is refused as EC2 refuses it
(IdempotentParameterMismatch), and nothing is created. `create-instance` does this in
its own runner; every action declared `Rerun.FOUND_BY_TOKEN` gets it from
`create_once`, around its one create operation, which also sends EC2's own client token
where the operation's input has an `idempotencyToken` member.

The look-up and the launch run under a lock for the token, so two launches with one token
on one machine (threads, processes, two `jobs resume`) launch once. The lock is a file
per token in a folder of this user's, under the system's temporary folder: it holds
whatever job home each process uses. Across machines what holds is EC2's own
`ClientToken` on AWS, and the shared job store once jobs run on Celery workers.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequest
from ..spec.fields import getter
from ..spec.params import String

if TYPE_CHECKING:
    from ..spec.action import Action
    from ..spec.resources import Resource
    from ..transport.context import Context

TOKEN_TAG = "ec2-connector:client-token"
DIGEST_TAG = "ec2-connector:launch-digest"
RESERVED_TAGS = 2  # the two above, of the 50 EC2 allows per resource
# The parameters that make two launches "the same launch", as EC2 compares them.
LOCK_POLL_S = 0.05


class ClientToken(String):
    """1-64 characters of A-Z a-z 0-9 _ . : - (EC2 allows 64 ASCII characters; these
    are the ones that cannot be a wildcard, a separator or a trick of the terminal)."""

    name = "string"

    def __init__(self) -> None:
        super().__init__(r"[A-Za-z0-9_.:-]{1,64}", "my-launch-1")

    def convert(self, value: Any, param: str) -> str:
        try:
            return super().convert(value, param)
        except InvalidRequest as exc:
            if "malformed" not in exc.message:
                raise
            raise InvalidRequest(
                f"parameter '{param}' must be 1-64 characters of A-Z, a-z, 0-9, '_', '.', "
                "':' and '-'"
            ) from None


def launched_with(instances: list[dict[str, Any]], token: str) -> list[dict[str, Any]]:
    """The instances whose token tag is exactly `token`."""
    return [i for i in instances if _tags(i).get(TOKEN_TAG) == token]


def check_same_launch(earlier: list[dict[str, Any]], token: str, digest: str) -> None:
    """IdempotentParameterMismatch (exitcode 2) when `token` launched something else."""
    other = [i for i in earlier if _tags(i).get(DIGEST_TAG, digest) != digest]
    if other:
        ids = ", ".join(str(i.get("InstanceId")) for i in other)
        raise InvalidRequest(
            f"IdempotentParameterMismatch: client-token '{token}' was already used to launch "
            f"{ids} with other parameters (image, type, counts, network, launch options or "
            "user data); nothing was launched: use a new client-token",
            code="IdempotentParameterMismatch",
        )


def own_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """A resource's tags without the two the connector keeps on what it creates."""
    return {k: v for k, v in tags.items() if k not in (TOKEN_TAG, DIGEST_TAG)}


def _tags(instance: Mapping[str, Any]) -> dict[str, str]:
    return {t.get("Key", ""): t.get("Value", "") for t in instance.get("Tags") or []}


def lock_dir() -> Path:
    """This user's folder of token locks; made private, and refused if it is not."""
    path = Path(tempfile.gettempdir()) / f"ec2-connector-{os.getuid()}" / "client-tokens"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.parent.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise InvalidRequest(f"the token lock folder {path.parent} is not this user's own")
    return path


@contextlib.contextmanager
def token_lock(token: str, wait: Any) -> Iterator[None]:
    """Hold the lock for `token`; `wait(seconds)` sleeps between tries (and raises at the
    call's deadline, so a lock held elsewhere costs at most the call's time)."""
    name = hashlib.sha256(token.encode()).hexdigest()[:32] + ".lock"
    fd = os.open(lock_dir() / name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                wait(LOCK_POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def create_once(ctx: Context, action: Action, args: dict[str, Any],
                p: Mapping[str, Any]) -> dict[str, Any]:
    """Send `action`'s create tagged with its client token and digest; with a token the
    caller (or the job) gave, first look, under the token's lock, for what it made."""
    from ..spec.resources import resource

    assert action.operation is not None and action.resource is not None
    res = resource(action.resource)
    given = p.get("client-token")
    token = str(given or uuid.uuid4().hex)
    ctx.partial["client-token"] = token
    digest = input_digest(args)
    args = _with_token(ctx, action.operation, res, args, token, digest)
    if not given or p.get("dry-run"):  # a token of our own making found nothing before
        return ctx.call(action.operation, **args)
    with token_lock(token, ctx.sleep):
        earlier = created_with(ctx, res, token)
        if not earlier:
            return ctx.call(action.operation, **args)
    _check_same(earlier, res, token, digest)
    ctx.notes["client-token"] = (f"{res.name} {earlier[0].get(res.id_member)} was created "
                                 "earlier with this client token; nothing new was created")
    return _as_output(ctx, action.operation, res, earlier[0])


def input_digest(args: Mapping[str, Any]) -> str:
    """A digest of what a create sends, before our tags and EC2's token are added: two
    requests that send the same are the same create, whichever names they used
    (`name=web` or `tags={"Name": "web"}`, an AWS CLI alias or ours)."""
    own = {k: v for k, v in args.items() if k not in ("ClientToken", "DryRun")}
    text = json.dumps(own, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def created_with(ctx: Context, res: Resource, token: str) -> list[dict[str, Any]]:
    """The resources of `res`'s kind whose token tag is exactly `token`."""
    items = getter(res.items)
    found: list[dict[str, Any]] = []
    tag_filter = [{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]
    for page in ctx.pages(res.describe, Filters=tag_filter, **res.owned):
        found.extend(items(page) or [])
    return [i for i in found if _tags(i).get(TOKEN_TAG) == token]


def _with_token(ctx: Context, operation: str, res: Resource, args: dict[str, Any],
                token: str, digest: str) -> dict[str, Any]:
    ours = [{"Key": TOKEN_TAG, "Value": token}, {"Key": DIGEST_TAG, "Value": digest}]
    specs = [dict(s) for s in args.get("TagSpecifications") or []]
    mine = [s for s in specs if s.get("ResourceType") == res.tag_type]
    if mine:
        mine[0]["Tags"] = [*mine[0].get("Tags", []), *ours]
    else:
        specs.append({"ResourceType": res.tag_type, "Tags": ours})
    args = {**args, "TagSpecifications": specs}
    member = idempotency_member(ctx.client().meta.service_model, operation)
    if member is not None and member not in args:
        args[member] = token  # EC2's own guarantee, where the operation has one
    return args


def idempotency_member(model: Any, operation: str) -> str | None:
    """The input member botocore's model marks `idempotencyToken`, if any."""
    shape = model.operation_model(operation).input_shape
    members = shape.members if shape is not None else {}
    return next((n for n, m in members.items() if m.metadata.get("idempotencyToken")), None)


def _check_same(earlier: list[dict[str, Any]], res: Resource, token: str,
                digest: str) -> None:
    other = [i for i in earlier if _tags(i).get(DIGEST_TAG, digest) != digest]
    if other:
        ids = ", ".join(str(i.get(res.id_member)) for i in other)
        raise InvalidRequest(
            f"IdempotentParameterMismatch: client-token '{token}' was already used to create "
            f"{res.name} {ids} with other parameters; nothing was created: use a new "
            "client-token", code="IdempotentParameterMismatch")


def _as_output(ctx: Context, operation: str, res: Resource,
               item: dict[str, Any]) -> dict[str, Any]:
    """The create's answer, made of the described resource: at the top of the output, or
    under the output member that holds it (CreateVpc's `Vpc`)."""
    model = ctx.client().meta.service_model
    member = output_member(model, operation, res)
    if not member:
        return item
    shape = model.operation_model(operation).output_shape.members[member]
    return {member: [item] if shape.type_name == "list" else item}


def output_member(model: Any, operation: str, res: Resource) -> str | None:
    """Where `operation`'s output holds what it made: "" at the top, the member holding
    an item of `res`'s describe (CreateVpc's `Vpc`, RunInstances' `Instances`), or None."""
    shape = model.operation_model(operation).output_shape
    members = shape.members if shape is not None else {}
    if res.id_member in members:
        return ""
    item = _item_shape(model, res)
    for name, member in members.items():
        if getattr(member, "member", member).name == item:  # a list's items, or itself
            return str(name)
    return None


def _item_shape(model: Any, res: Resource) -> str:
    """The shape of an item of `res`'s describe (`Reservations[].Instances[]`: Instance)."""
    shape = model.operation_model(res.describe).output_shape
    for step in res.items.replace("[]", "").split("."):
        shape = shape.members[step]
        shape = getattr(shape, "member", shape)
    return str(shape.name)
