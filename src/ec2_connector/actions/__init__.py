"""The action catalog: every action module's declarations, by name.

Every module of this package with `ACTIONS` is in the catalog by being here. Importing
them all is ~10 ms, most of it declarations a one-shot command never runs, so the
catalog loads them when first asked for all of them (`names`, `describe`, the module's
`ACTIONS`, `ALIASES`, `DECLARED`, `AWS_CLI_NAMES`, an unknown name), and `get` of a
name the index knows (`index.py`) imports only the module declaring it. An action built
either way is the same object: the whole catalog reuses those already built.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import replace
from typing import Any, NamedTuple

from ..errors import unknown_name
from ..spec.action import Action
from ..spec.names import derived_aliases, fixed_by, suggestible, verbs_of, with_cli_options
from ..spec.params import canonical, text_of

_lock = threading.RLock()
# Actions built so far, by name (with the CLI's option names and their AWS CLI aliases).
_BUILT: dict[str, Action] = {}
_VARIANTS: dict[str, Action] = {}
# What `_one` found, by the name asked for (the index's names: a bounded set).
_FOUND: dict[str, Action] = {}


class _Whole(NamedTuple):
    """The whole catalog, once every module is imported. (A named tuple: a dataclass
    costs every command ~0.3 ms more at import, for what a one-shot call never loads.)"""

    declared: dict[str, Action]
    module_of: dict[str, str]
    aws_cli_names: dict[str, tuple[str, str]]
    actions: dict[str, Action]
    aliases: dict[str, str]
    secret_names: frozenset[str]


_whole: _Whole | None = None


def _declared() -> tuple[dict[str, Action], dict[str, str]]:
    """Every `ACTIONS` of this package's modules, and the module declaring each (the
    modules without `ACTIONS` support the declarations)."""
    import pkgutil

    found: dict[str, Action] = {}
    module_of: dict[str, str] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        declared = getattr(importlib.import_module(f".{module.name}", __name__), "ACTIONS", ())
        for action in declared:
            if action.name in found:
                raise AssertionError(f"action '{action.name}' is declared twice")
            found[action.name] = action
            module_of[action.name] = module.name
    return found, module_of


def _load() -> _Whole:
    global _whole
    with _lock:
        if _whole is None:
            declared, module_of = _declared()
            # The AWS CLI's name of each action's operation, where no action or alias has it.
            cli_names = derived_aliases(
                declared.values(), [*declared, *(a for x in declared.values() for a in x.aliases)])
            actions = {name: _build(action, cli_names, again=True)
                       for name, action in declared.items()}
            _whole = _Whole(
                declared, module_of, cli_names, actions,
                # Other names an action answers to (the AWS CLI's, Flint's older ones).
                {alias: a.name for a in actions.values() for alias in a.aliases},
                frozenset(n for a in actions.values() for n in a.secret_names()),
            )
            _RESOLVED.clear()  # from now on the whole catalog is the reference
        return _whole


def _build(action: Action, cli_names: dict[str, tuple[str, str]], again: bool = False) -> Action:
    """`action` as the catalog serves it: one object, whichever way it was asked for
    (`again`: built anew and compared, for the whole catalog, which is the reference)."""
    built = _BUILT.get(action.name)
    if built is None or again:
        fresh = replace(action, params=with_cli_options(action), aliases=(
            *action.aliases, *(a for a, (n, _) in cli_names.items() if n == action.name)))
        built = _BUILT[action.name] = built if built == fresh else fresh
    return built


def _one(key: str) -> Action | None:
    """The action `key` names, importing only its module; None when the index does not
    know the name or does not hold that action's operations and secrets (out of date).
    Worked out once a name: a call looks its action up twice, and the checks below
    (~10 µs) were a visible part of a short call's overhead."""
    found = _FOUND.get(key)
    if found is not None:
        return found
    from . import index  # not with the package: `python -m` of it rewrites it

    entry = index.NAMES.get(key) if index.trusted() else None
    if entry is None:
        return None
    name, module = entry
    declared = getattr(importlib.import_module(f".{module}", __name__), "ACTIONS", ())
    action = next((a for a in declared if a.name == name), None)
    if action is None:
        return None
    with _lock:
        built = _build(action, index.AWS_CLI_NAMES)
    if not (set(built.all_operations()) <= set(index.OPERATIONS)
            and built.secret_names() <= index.SECRET_NAMES):
        return None
    _FOUND[key] = built
    return built


def _variant(alias: str, action: Action, cli_names: dict[str, tuple[str, str]]) -> Action | None:
    """The action an AWS CLI alias with presets means (the egress rule: direction
    outbound), built once. It bears the alias as its name: a job record keeps the name,
    and the worker that runs it must read the same direction."""
    found = _VARIANTS.get(alias)
    if found is None and alias in cli_names:
        presets = action.presets.get(cli_names[alias][1])
        if not presets:
            return None
        fix = fixed_by(presets, f"'{alias}'")
        with _lock:
            found = _VARIANTS.setdefault(alias, replace(
                action, name=alias, params=tuple(fix(p) for p in action.params)))
    return found


# Names already resolved, as given: a call resolves its action twice (its secrets, then
# its validation), and each look-up cost a short call ~2 µs. Capped: names come from
# callers, and a wrongly spelled one is not kept (it raises).
_RESOLVED: dict[str, Action] = {}
RESOLVED_CAP = 1024


class _Catalog:
    def get(self, name: str) -> Action:
        found = _RESOLVED.get(name) if isinstance(name, str) else None
        if found is not None:
            return found
        action = self._resolve(name)
        if isinstance(name, str) and len(_RESOLVED) < RESOLVED_CAP:
            _RESOLVED[name] = action
        return action

    def _resolve(self, name: str) -> Action:
        key = canonical(name)
        if _whole is None:
            action = _one(key)
            if action is not None:
                from . import index

                return _variant(key, action, index.AWS_CLI_NAMES) or action
        whole = _load()
        action = whole.actions.get(whole.aliases.get(key, key))
        if action is None:
            raise unknown_name("action", text_of(name), suggestible(key, _verbs()))
        return _variant(key, action, whole.aws_cli_names) or action

    def names(self) -> list[str]:
        return sorted(_load().actions)

    def describe(self) -> list[dict[str, Any]]:
        actions = _load().actions
        return [actions[name].describe() for name in self.names()]

    def secret_names(self) -> frozenset[str]:
        """Every parameter declared secret by any action: never logged, stored or shown."""
        from . import index

        if _whole is None and index.trusted():
            return index.SECRET_NAMES
        return _load().secret_names

    def storable(self, action: str | None, envelope: dict[str, Any]) -> dict[str, Any]:
        """A response envelope as a job record may hold it: secret results withheld."""
        from . import passthrough

        whole = _load()
        found = whole.actions.get(whole.aliases.get(str(action), str(action)))
        if found is not None and found.run is passthrough.call_operation:
            return passthrough.storable(envelope)
        if found is None or not found.secret_results:
            return envelope
        data = _withheld(envelope.get("data") or {}, frozenset(found.secret_results))
        return {**envelope, "data": data}

    def operations(self) -> list[str]:
        """Every EC2 operation any action may call (the trimmed model's contents)."""
        from . import index

        if _whole is None and index.trusted():
            return list(index.OPERATIONS)
        return sorted({op for action in _load().actions.values()
                       for op in action.all_operations()})


WITHHELD = "withheld: a secret result is returned to a sync call only, never stored"


def _withheld(node: Any, keys: frozenset[str]) -> Any:
    if isinstance(node, dict):
        return {k: WITHHELD if k in keys and v else _withheld(v, keys) for k, v in node.items()}
    if isinstance(node, list):
        return [_withheld(v, keys) for v in node]
    return node


def _verbs() -> dict[str, frozenset[str]]:
    """Every name an action answers to, with the verbs it stands for (names.py)."""
    return {name: verbs_of(name, action.operation)
            for action in _load().actions.values() for name in (action.name, *action.aliases)}


catalog = _Catalog()


def index_facts() -> dict[str, Any]:
    """What `index.py` must hold, as the declarations give it (imports every module)."""
    from . import index

    whole = _load()
    return {
        # every name an action answers to (its own, aliases, the AWS CLI's) -> (the
        # action's name, the module declaring it)
        "NAMES": {alias: (action.name, whole.module_of[action.name])
                  for action in whole.actions.values()
                  for alias in (action.name, *action.aliases)},
        # alias -> (action name, operation): the AWS CLI's names derived from operations
        "AWS_CLI_NAMES": dict(whole.aws_cli_names),
        "OPERATIONS": tuple(catalog.operations()),
        "SECRET_NAMES": whole.secret_names,
        "SOURCES": index.digest(),
    }


def write_index() -> None:
    """Rewrite `index.py` from the declarations (after adding or changing one)."""
    from . import index

    index.write(index_facts())
# The whole catalog's tables, loaded when first read (PEP 562).
_TABLES = {"DECLARED": "declared", "MODULE_OF": "module_of", "AWS_CLI_NAMES": "aws_cli_names",
           "ACTIONS": "actions", "ALIASES": "aliases"}


def __getattr__(name: str) -> Any:
    if name in _TABLES:
        return getattr(_load(), _TABLES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
