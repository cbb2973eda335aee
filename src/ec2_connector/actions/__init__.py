"""The action catalog: every action module's declarations, by name."""

from __future__ import annotations

from typing import Any

from ..action import Action
from ..errors import unknown_name
from ..params import canonical, text_of
from . import (
    addresses,
    images,
    instances,
    key_pairs,
    launch_templates,
    regions,
    security_groups,
    snapshots,
    tags,
    volumes,
    vpcs,
)

ACTIONS: dict[str, Action] = {
    action.name: action
    for module in (
        instances, security_groups, tags, volumes, snapshots, images, addresses, key_pairs,
        vpcs, regions, launch_templates,
    )
    for action in module.ACTIONS
}


# Other names an action answers to (the AWS CLI's, Flint's older ones).
ALIASES: dict[str, str] = {
    alias: action.name for action in ACTIONS.values() for alias in action.aliases
}


class _Catalog:
    def get(self, name: str) -> Action:
        key = canonical(name)
        action = ACTIONS.get(ALIASES.get(key, key))
        if action is None:
            raise unknown_name("action", text_of(name), [*ACTIONS, *ALIASES])
        return action

    def names(self) -> list[str]:
        return sorted(ACTIONS)

    def describe(self) -> list[dict[str, Any]]:
        return [ACTIONS[name].describe() for name in self.names()]

    def secret_names(self) -> frozenset[str]:
        """Every parameter declared secret by any action: never logged, stored or shown."""
        return _SECRET_NAMES

    def operations(self) -> list[str]:
        """Every EC2 operation any action may call (the trimmed model's contents)."""
        return sorted({op for action in ACTIONS.values() for op in action.all_operations()})


# Fixed by the declarations, and read on every call's path: computed once.
_SECRET_NAMES = frozenset(n for a in ACTIONS.values() for n in a.secret_names())
catalog = _Catalog()
