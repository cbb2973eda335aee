"""What a request touches: the resources it names or creates, read from its declaration.

A request names its targets with the parameters typed as its resource's id
(resources.py: `instance-id` of the instance actions, `volume-id` of `attach-volume`,
not the instance it attaches to), or with `resource-id` in the tag actions, which work
on resources of any kind. A create touches what it makes: as many as its count
parameter says, else one. No mutating action takes `filters` (a test over the catalog
holds that), so the ids a mutating request names are everything it can change.
`call-operation` names them in EC2's own input members (`InstanceIds`, `VolumeId`); one
with `Filters` reaches resources nobody can count before it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequest
from ..spec.action import Action
from ..spec.params import Integer, Param, StringList, canonical
from ..spec.resources import resource

ANY_KIND = "resource-id"  # the tag actions: ids of any kind of resource
COUNT_PARAMS = ("max-instance", "min-instance")  # how many a create makes
_COUNT = Integer(1, None)


_ID_PARAMS: dict[str, tuple[Param, ...]] = {}


def id_params(action: Action) -> tuple[Param, ...]:
    """The parameters of `action` whose values are the ids of what it works on."""
    found = _ID_PARAMS.get(action.name)
    if found is None:
        if action.resource is None:
            found = tuple(p for p in action.params if p.name == ANY_KIND)
        else:
            kind = resource(action.resource).id_type
            found = tuple(p for p in action.params if p.type is kind or (
                isinstance(p.type, StringList) and p.type.item is kind))
        _ID_PARAMS[action.name] = found
    return found


def target_ids(action: Action, params: Mapping[str, Any]) -> list[str]:
    """The ids a request names (its raw or validated parameters); a value that does not
    convert is left to validation and not counted."""
    wanted = {p.name: p for p in id_params(action)}
    found: list[str] = []
    for key, value in params.items():
        param = wanted.get(canonical(str(key)))
        if param is None or value is None:
            continue
        try:
            converted = param.type.convert(value, param.name)
        except InvalidRequest:
            continue
        found += converted if isinstance(converted, list) else [str(converted)]
    if action.name == "call-operation":
        found += _operation_ids(params)
    return list(dict.fromkeys(found))


def target_count(action: Action, params: Mapping[str, Any]) -> int | None:
    """How many resources a validated mutating request touches; None if it cannot be
    known before it runs."""
    if action.name == "call-operation":
        members = params.get("parameters") or {}
        return None if "Filters" in members else len(_operation_ids(params))
    ids = target_ids(action, params)
    if ids:
        return len(ids)
    counts = [int(params[n]) for n in COUNT_PARAMS if params.get(n) is not None]
    return max(counts, default=1)


def _operation_ids(params: Mapping[str, Any]) -> list[str]:
    members = next((v for k, v in params.items() if canonical(str(k)) == "parameters"), None)
    if not isinstance(members, Mapping):
        return []
    found: list[str] = []
    for name, value in members.items():
        if str(name).endswith("Ids") and isinstance(value, list):
            found += [str(v) for v in value]
        elif str(name).endswith("Id") and isinstance(value, str):
            found.append(value)
    return found
