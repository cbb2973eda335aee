"""A botocore EC2 service model trimmed to the operations the actions call.

botocore's EC2 model holds ~750 operations; decoding it, and building a client class
with a method per operation, is most of a cold client's cost (~150 ms of a one-shot
command). botocore reads models from extra data paths first, so a model holding only
the operations it is given (the catalog's, passed down by the runtime) and the shapes they
reach is a supported replacement.

The trimmed file is derived from the installed botocore's own model, once per botocore
version, and cached under $XDG_CACHE_HOME/ec2-connector (a shipped copy could drift
from the botocore it runs with), next to an endpoints.json holding only EC2's entries.
Anything that fails here falls back to the full model: a missing cache costs time, never
correctness.

Next to it sit botocore's paginator and waiter models trimmed the same way: the runner
pages only where `paginator()` has the operation, and waits read `waiter()`'s acceptors
(decoding the full paginator model costs ~40 ms, too much for a one-shot command).

Each trimmed file is also kept in marshal's format, for this interpreter
(`*.json.cpython-311.marshal`), written the first time the JSON is read: botocore
decodes JSON into OrderedDicts, 3-5 ms for the trimmed model in a fresh process;
marshal reads it back in ~1.3 ms. The JSON stays the reference: a marshal file that
does not read back is ignored, and written again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import marshal
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from botocore.loaders import JSONFileLoader, Loader

SERVICE = "ec2"
TYPE = "service-2"
FORMAT = 3  # bump when what is cached changes
MARSHALLED = f".json.{sys.implementation.cache_tag}.marshal"  # marshal's format varies


class TrimmedLoader(Loader):
    """botocore's Loader with our data path first, and no scan of all ~400 services.

    `list_available_services` walks every service directory of every search path (two
    scans, ~40 ms, per cold client); only EC2 is ever asked of this loader.
    """

    def list_available_services(self, type_name: str) -> list[str]:
        for root in self.search_paths:
            folder = Path(root) / SERVICE
            if folder.is_dir() and any(
                self.file_loader.exists(str(v / type_name)) for v in folder.iterdir()
            ):
                return [SERVICE]
        return []


def install(session: Any, operations: Iterable[str]) -> bool:
    """Make `session` load the EC2 model trimmed to `operations`; False (full model kept)
    if that is unavailable."""
    try:
        root = ensure_trimmed(operations)
    except (OSError, ValueError, KeyError):
        return False
    session.register_component("data_loader", TrimmedLoader(
        extra_search_paths=[str(root)], file_loader=MarshalledFileLoader(root)))
    return True


class MarshalledFileLoader(JSONFileLoader):
    """botocore's JSON file loader, reading a file under `root` (the trimmed model's) from
    its marshalled copy, which it writes the first time it reads the JSON."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.join(str(root), "")

    def load_file(self, file_path: str) -> Any:
        if not file_path.startswith(self.root):
            return super().load_file(file_path)
        copy = file_path + MARSHALLED
        try:
            with open(copy, "rb") as stored:
                data = marshal.loads(stored.read())
            if isinstance(data, dict):
                return data
        except (OSError, ValueError, EOFError, TypeError):
            pass
        data = super().load_file(file_path)
        if isinstance(data, dict):
            _write_marshalled(Path(copy), data)
        return data


def _write_marshalled(target: Path, data: dict[str, Any]) -> None:
    # A cache that cannot be written: the JSON is read each time.
    with contextlib.suppress(OSError, ValueError):
        write_atomically(target, marshal.dumps(_plain(data)))


def _plain(node: Any) -> Any:
    """`node` with botocore's OrderedDicts as dicts (marshal takes only exact types)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def ensure_trimmed(operations: Iterable[str]) -> Path:
    """The data path holding the model trimmed to `operations`, written on first use."""
    import botocore

    wanted = sorted(operations)
    full_loader = Loader()
    version = full_loader.determine_latest_version(SERVICE, TYPE)
    tag = f"v{FORMAT}-botocore-{botocore.__version__}-{_digest(wanted)}"
    root = cache_dir() / tag
    target = root / SERVICE / version / f"{TYPE}.json"
    if not target.exists():
        model = full_loader.load_service_model(SERVICE, TYPE, version)
        _write_atomically(root / "endpoints.json", trim_endpoints(full_loader.load_data(
            "endpoints")))
        for kind, section in EXTRAS.items():
            document = full_loader.load_service_model(SERVICE, kind, version)
            _write_atomically(target.with_name(f"{kind}.json"), trim_extra(
                document, section, wanted))
        _write_atomically(target, trim(model, wanted))
    return root


# The extra models kept next to the service model, and the section each one's entries sit in.
EXTRAS = {"paginators-1": "pagination", "waiters-2": "waiters"}


def trim_extra(document: dict[str, Any], section: str, operations: list[str]) -> dict[str, Any]:
    """A paginator or waiter model with only the entries for `operations`."""
    wanted = set(operations)
    entries = document.get(section, {})
    if section == "pagination":
        kept = {op: entry for op, entry in entries.items() if op in wanted}
    else:
        kept = {name: entry for name, entry in entries.items() if entry["operation"] in wanted}
    return {**document, section: kept}


def paginator(operation: str, operations: tuple[str, ...]) -> dict[str, Any] | None:
    """botocore's paginator config for `operation` (input/output token, limit key), if any;
    `operations`: those the trimmed model holds (the client layer's)."""
    if operation not in operations:
        return _full_extra("paginators-1", "pagination").get(operation)
    return _extra("paginators-1", "pagination", operations).get(operation)


def waiter(name: str, operations: tuple[str, ...]) -> dict[str, Any]:
    """botocore's waiter config `name`: its operation and acceptors."""
    found = _extra("waiters-2", "waiters", operations).get(name)
    return dict(found if found is not None else _full_extra("waiters-2", "waiters")[name])


@functools.cache
def _extra(kind: str, section: str, operations: tuple[str, ...]) -> dict[str, Any]:
    try:
        root = ensure_trimmed(operations)
        path = next((root / SERVICE).glob(f"*/{kind}.json"))
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, StopIteration):
        return _full_extra(kind, section)
    return dict(document.get(section, {}))


@functools.cache
def _full_extra(kind: str, section: str) -> dict[str, Any]:
    return dict(Loader().load_service_model(SERVICE, kind).get(section, {}))


def trim_endpoints(document: dict[str, Any]) -> dict[str, Any]:
    """botocore's endpoints.json (1.2 MB, ~17 ms to decode) with only EC2's entries."""
    partitions = [
        {**p, "services": {k: v for k, v in p.get("services", {}).items() if k == SERVICE}}
        for p in document["partitions"]
    ]
    return {**document, "partitions": partitions}


def trim(model: dict[str, Any], operations: Iterable[str]) -> dict[str, Any]:
    """The model with only `operations` and the shapes they reach; no documentation."""
    ops = {name: _undocumented(model["operations"][name]) for name in operations}
    shapes = model["shapes"]
    keep: set[str] = set()
    pending = [ref["shape"] for op in ops.values() for ref in _operation_refs(op)]
    while pending:
        name = pending.pop()
        if name not in keep:
            keep.add(name)
            pending.extend(_shape_refs(shapes[name]))
    return {
        "version": model.get("version", "2.0"),
        "metadata": model["metadata"],
        "operations": ops,
        "shapes": {name: _undocumented(shapes[name]) for name in sorted(keep)},
    }


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ec2-connector" / "models"


def _operation_refs(op: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in (op.get("input"), op.get("output"), *op.get("errors", [])) if r]


def _shape_refs(shape: dict[str, Any]) -> list[str]:
    refs = [m["shape"] for m in shape.get("members", {}).values()]
    refs += [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
    return refs


def _undocumented(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _undocumented(v) for k, v in node.items() if k != "documentation"}
    if isinstance(node, list):
        return [_undocumented(v) for v in node]
    return node


def _digest(names: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]


def _write_atomically(target: Path, document: dict[str, Any]) -> None:
    write_atomically(target, json.dumps(document, separators=(",", ":")).encode())


def write_atomically(target: Path, payload: bytes) -> None:
    """`payload` as the file `target`, whole or not at all (a temporary file renamed
    over it): another process reading the cache never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
