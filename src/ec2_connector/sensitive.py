"""The members of EC2's model whose values are secret: the names masking looks for.

botocore's EC2 model marks secret shapes with the `sensitive` trait (a Windows password,
VPN pre-shared keys and configurations, user data, OIDC client secrets, presigned URLs).
Every operation can be called (named actions call some; `call-operation` reaches any
read-only one, and any other a connector's `allow-operations` lists), so every member
whose shape is sensitive, in the input or output of any operation, is masked; so is every
member below a sensitive structure (`RunScheduledInstances`' whole `LaunchSpecification`).

The model does not mark everything a log must not show; `ALSO_MASKED` lists what is
masked besides, and why.

A member reaches the text we mask under three spellings: its name (`PasswordData`, in
parsed output and validation messages), its `locationName` (`passwordData`, the element
in EC2's XML responses) and the name EC2's query protocol sends it under (`queryName`,
else the location name capitalised, else the name: `UserData=`, `TunnelOptions.PreSharedKey=`).
A spelling that non-secret members share (`Value`, `description`) is masked only in text
that names an operation reaching the secret member (`ModifyInstanceAttribute`'s `Value`),
so a tag's `<value>` stays readable elsewhere.

Decoding the full model costs ~0.5 s, so the result is computed once per botocore
version and kept next to the trimmed model (model.py), and only when masking first needs
it: `ec2-connector --help`, or a call that logs nothing, never loads it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Masked although the model does not mark them (or not everywhere they appear).
ALSO_MASKED: dict[str, str] = {
    "UserData": "user data often holds passwords and keys; the model marks RunInstances' "
                "and launch templates' but not DescribeInstanceAttribute's `userData`",
    "Output": "GetConsoleOutput's console output prints host keys and first-boot "
              "passwords; unmarked",
    "KeyMaterial": "a key pair's private key: marked in KeyPair today, listed so a model "
                   "that drops the trait cannot unmask it",
    "PasswordData": "a Windows administrator password (encrypted): marked today, listed "
                    "for the same reason",
}
# Names botocore's own DEBUG lines use as keys ('url': 'http://...', 'body': ...): a
# model name equal to one of them would mask botocore's words, so it counts as shared.
# Our own envelope's words count too ('data': {...}).
LOG_WORDS = frozenset({"url", "body", "headers", "method", "context", "query_string",
                       "url_path", "data", "message", "meta", "result"})
FORMAT = 2  # bump when what is cached, or how it is computed, changes


@dataclass(frozen=True)
class Masked:
    """What masking looks for, derived from the model."""

    everywhere: frozenset[str]  # spellings masked wherever they appear
    by_operation: dict[str, frozenset[str]]  # shared spellings, masked where the op is named
    members: frozenset[tuple[str, str]]  # (owning shape, member): every secret member

    def to_dict(self) -> dict[str, Any]:
        return {"everywhere": sorted(self.everywhere),
                "by_operation": {k: sorted(v) for k, v in sorted(self.by_operation.items())},
                "members": sorted(list(m) for m in self.members)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Masked:
        return cls(frozenset(data["everywhere"]),
                   {k: frozenset(v) for k, v in data["by_operation"].items()},
                   frozenset((a, b) for a, b in data["members"]))


_lock = threading.Lock()


@functools.cache
def masked() -> Masked:
    """The masked set for the installed botocore: from the cache, else computed (once)."""
    with _lock:  # the first records of several threads: one of them loads it
        return _load()


def _load() -> Masked:
    import botocore

    from .transport.model import cache_dir

    tag = f"v{FORMAT}-{_rules_digest()}-botocore-{botocore.__version__}"
    path = cache_dir() / f"sensitive-{tag}.json"
    try:
        return Masked.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = compute(_full_model())
    with contextlib.suppress(OSError):  # a read-only home: computed again next time
        _write(path, found.to_dict())
    return found


def compute(model: dict[str, Any]) -> Masked:
    """The masked set of a service model (botocore's JSON form)."""
    shapes = model["shapes"]
    reached: dict[tuple[str, str], set[str]] = {}  # (shape, member) -> operations reaching it
    below: set[tuple[str, str]] = set()  # secret only as part of a sensitive structure
    for op_name, op in model["operations"].items():
        for ref in (op.get("input"), op.get("output")):
            for owner, member, direct in _secret_members(shapes, ref["shape"]) if ref else ():
                reached.setdefault((owner, member), set()).add(op_name)
                if not direct:
                    below.add((owner, member))
    shared = {w.lower() for w in LOG_WORDS}
    for owner, shape in shapes.items():
        for member, ref in shape.get("members", {}).items():
            if (owner, member) not in reached:
                shared.update(s.lower() for s in spellings(member, ref))
    everywhere = {s for name in ALSO_MASKED for s in (name, name[0].lower() + name[1:])}
    by_operation: dict[str, set[str]] = {}
    for (owner, member), operations in reached.items():
        for spelling in spellings(member, shapes[owner]["members"][member]):
            if spelling.lower() not in shared and (owner, member) not in below:
                everywhere.add(spelling)
            elif spelling not in everywhere:
                for op in operations:
                    by_operation.setdefault(op, set()).add(spelling)
    return Masked(frozenset(everywhere), {k: frozenset(v) for k, v in by_operation.items()},
                  frozenset(reached))


def spellings(member: str, ref: dict[str, Any]) -> set[str]:
    """The names a member goes by: its own, its XML element's, its query parameter's."""
    location = ref.get("locationName")
    query = ref.get("queryName") or (location[0].upper() + location[1:] if location else member)
    return {member, query, *([location] if location else [])}


def _secret_members(shapes: dict[str, Any], root: str) -> Iterator[tuple[str, str, bool]]:
    """Every (owner, member, direct) below `root` whose shape is sensitive (direct) or
    sits inside a sensitive structure (not direct)."""
    seen: set[tuple[str, bool]] = set()
    pending = [(root, False)]
    while pending:
        name, inside = pending.pop()
        if (name, inside) in seen:
            continue
        seen.add((name, inside))
        shape = shapes[name]
        for member, ref in shape.get("members", {}).items():
            direct = bool(shapes[ref["shape"]].get("sensitive")) or member in ALSO_MASKED
            if direct or inside:
                yield name, member, direct
            pending.append((ref["shape"], inside or direct))
        pending += [(shape[k]["shape"], inside) for k in ("member", "value") if k in shape]


def _rules_digest() -> str:
    # The lists above decide the result as much as the model does: a change to them
    # must not read a set cached before it.
    import hashlib

    rules = json.dumps([FORMAT, sorted(ALSO_MASKED), sorted(LOG_WORDS)])
    return hashlib.sha256(rules.encode()).hexdigest()[:12]


def _full_model() -> dict[str, Any]:
    from botocore.loaders import Loader

    loader = Loader()
    version = loader.determine_latest_version("ec2", "service-2")
    return dict(loader.load_service_model("ec2", "service-2", version))


def _write(path: Path, document: dict[str, Any]) -> None:
    from .transport.model import _write_atomically

    _write_atomically(path, document)
