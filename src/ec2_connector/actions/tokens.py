"""Client tokens: one token, one launch, with the same parameters.

EC2 honours `ClientToken` itself, but many compatible endpoints ignore it, so the
connector keeps its own record on what it launches: a tag with the token and a tag with
a digest of the launch's defining parameters. A launch with a token first looks for
instances whose token tag equals it exactly (a tag filter alone would treat `*` and `?`
as wildcards); with other parameters it is refused as EC2 refuses it
(IdempotentParameterMismatch), and nothing is launched.

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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest
from ..spec.params import String

TOKEN_TAG = "ec2-connector:client-token"
DIGEST_TAG = "ec2-connector:launch-digest"
RESERVED_TAGS = 2  # the two above, of the 50 EC2 allows per resource
# The parameters that make two launches "the same launch", as EC2 compares them.
DEFINING = (
    "image-id", "instance-type", "min-instance", "max-instance", "subnet-id",
    "security-group-id", "key-name", "availability-zone",
)
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


def launch_digest(p: Mapping[str, Any]) -> str:
    """A digest of the launch's defining parameters (user data by its own digest)."""
    defining: dict[str, Any] = {name: p.get(name) for name in DEFINING}
    defining["min-instance"] = p.get("min-instance", 1)
    defining["max-instance"] = p.get("max-instance", defining["min-instance"])
    if defining["security-group-id"]:
        defining["security-group-id"] = sorted(defining["security-group-id"])
    user_data = p.get("user-data")
    if user_data is not None:
        raw = user_data if isinstance(user_data, bytes) else user_data.encode("utf-8")
        defining["user-data"] = hashlib.sha256(raw).hexdigest()  # bytes: from a file
    text = json.dumps(defining, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


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
            f"{ids} with other parameters (image, type, counts, subnet, groups, key, "
            "placement or user data); nothing was launched: use a new client-token",
            code="IdempotentParameterMismatch",
        )


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
