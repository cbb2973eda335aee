"""The action catalog: every action module's declarations, by name."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import replace
from typing import Any

from ..errors import unknown_name
from ..spec.action import Action
from ..spec.names import derived_aliases, fixed_by, suggestible, verbs_of, with_cli_options
from ..spec.params import canonical, text_of
from . import passthrough


def _declared() -> dict[str, Action]:
    """Every `ACTIONS` of this package's modules: a new module of declarations is in the
    catalog by being here (the modules without `ACTIONS` support the declarations)."""
    found: dict[str, Action] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        declared = getattr(importlib.import_module(f".{module.name}", __name__), "ACTIONS", ())
        for action in declared:
            if action.name in found:
                raise AssertionError(f"action '{action.name}' is declared twice")
            found[action.name] = action
    return found


DECLARED: dict[str, Action] = _declared()
# The AWS CLI's name of each action's operation, where no action or alias has it.
AWS_CLI_NAMES = derived_aliases(
    DECLARED.values(), [*DECLARED, *(a for x in DECLARED.values() for a in x.aliases)])
ACTIONS: dict[str, Action] = {
    name: replace(action, params=with_cli_options(action), aliases=(
        *action.aliases, *(a for a, (n, _) in AWS_CLI_NAMES.items() if n == name)))
    for name, action in DECLARED.items()
}


# Other names an action answers to (the AWS CLI's, Flint's older ones).
ALIASES: dict[str, str] = {
    alias: action.name for action in ACTIONS.values() for alias in action.aliases
}
_VARIANTS: dict[str, Action] = {}


def _variant(alias: str) -> Action | None:
    """The action an AWS CLI alias with presets means (the egress rule: direction
    outbound), built once. It bears the alias as its name: a job record keeps the name,
    and the worker that runs it must read the same direction."""
    found = _VARIANTS.get(alias)
    if found is None and alias in AWS_CLI_NAMES:
        name, operation = AWS_CLI_NAMES[alias]
        action = ACTIONS[name]
        presets = action.presets.get(operation)
        if not presets:
            return None
        fix = fixed_by(presets, f"'{alias}'")
        found = _VARIANTS[alias] = replace(
            action, name=alias, params=tuple(fix(p) for p in action.params))
    return found


class _Catalog:
    def get(self, name: str) -> Action:
        key = canonical(name)
        action = ACTIONS.get(ALIASES.get(key, key))
        if action is None:
            raise unknown_name("action", text_of(name), suggestible(key, _verbs()))
        return _variant(key) or action

    def names(self) -> list[str]:
        return sorted(ACTIONS)

    def describe(self) -> list[dict[str, Any]]:
        return [ACTIONS[name].describe() for name in self.names()]

    def secret_names(self) -> frozenset[str]:
        """Every parameter declared secret by any action: never logged, stored or shown."""
        return _SECRET_NAMES

    def storable(self, action: str | None, envelope: dict[str, Any]) -> dict[str, Any]:
        """A response envelope as a job record may hold it: secret results withheld."""
        found = ACTIONS.get(ALIASES.get(str(action), str(action)))
        if found is not None and found.run is passthrough.call_operation:
            return passthrough.storable(envelope)
        if found is None or not found.secret_results:
            return envelope
        data = _withheld(envelope.get("data") or {}, frozenset(found.secret_results))
        return {**envelope, "data": data}

    def operations(self) -> list[str]:
        """Every EC2 operation any action may call (the trimmed model's contents)."""
        return sorted({op for action in ACTIONS.values() for op in action.all_operations()})


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
            for action in ACTIONS.values() for name in (action.name, *action.aliases)}


# Fixed by the declarations, and read on every call's path: computed once.
_SECRET_NAMES = frozenset(n for a in ACTIONS.values() for n in a.secret_names())
catalog = _Catalog()
