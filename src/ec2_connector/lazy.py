"""Names a package re-exports from its modules, imported on first use (PEP 562).

A package's `__init__` names what the rest of the project (and its users) take from it,
without importing those modules with the package: the `ec2-connector` command must take
Ctrl-C before the catalog, botocore or the job machinery are imported, and a sub-package
that only re-exports lazily can never close an import circle.
"""

from __future__ import annotations

import importlib

# Not `typing` (~8 ms, with `re`): this module is imported with the package.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


def exports(package: str, table: Mapping[str, str]) -> tuple[
        Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, serving `name` from the module
    `table[name]` (relative to the package)."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value  # asked once
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__
