"""Names people already type: the AWS CLI's name of each action's EC2 operation, and the
verbs that keep a "did you mean" from proposing another operation than the one meant.

The AWS CLI names a command after its operation with botocore's `xform_name`
(`RunInstances` -> `run-instances`), the function that names boto3's methods; an action
answers to the name of the operation it calls, so the alias table is derived from the
declarations, never written by hand.

A suggestion is only ever a spelling fix. Opposite operations always differ in their verb
(`authorize`/`revoke`, `start`/`stop`, `attach`/`detach`, `associate`/`disassociate`), so a
name may only be suggested for a typed name with the same verb: one of EC2's verbs (the
first word of its operations' names) in the name's words, or the verb of the operation
its action calls. A typed name with no EC2 verb in it gets a suggestion only when one of
its words is a misspelling of the candidate's verb.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import InvalidRequest
from ..spec.params import ParamType

VERB_LIKENESS = 0.75  # `descrbe` is `describe` misspelled; `start` is not `stop`


@functools.lru_cache(maxsize=256)
def cli_name(operation: str) -> str:
    """The AWS CLI's command for an EC2 operation: `AuthorizeSecurityGroupIngress` ->
    `authorize-security-group-ingress`."""
    from botocore import xform_name

    return xform_name(operation, "-")


def verb(operation: str) -> str:
    return cli_name(operation).split("-", 1)[0]


@functools.lru_cache(maxsize=1)
def ec2_verbs() -> frozenset[str]:
    """The first word of every EC2 operation's name, from botocore's full model: only an
    unknown name needs them. Reading the model takes ~0.2 s, so the ~50 words are cached
    beside the trimmed model (model.py), per botocore version."""
    import json

    import botocore

    from ..transport.model import _write_atomically, cache_dir

    cached = cache_dir() / f"ec2-verbs-{botocore.__version__}.json"
    try:
        return frozenset(json.loads(cached.read_text(encoding="utf-8"))["verbs"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from botocore.loaders import create_loader

    model = create_loader().load_service_model("ec2", "service-2")
    verbs = frozenset(verb(op) for op in model["operations"])
    with contextlib.suppress(OSError):  # no cache: the next unknown name reads the model
        _write_atomically(cached, {"verbs": sorted(verbs)})
    return verbs


def verbs_of(name: str, operation: str | None) -> frozenset[str]:
    """The verbs a catalog name stands for: EC2 verbs among its words, and its
    operation's."""
    found = {w for w in name.split("-") if w in ec2_verbs()}
    if operation:
        found.add(verb(operation))
    return frozenset(found)


def suggestible(typed: str, candidates: Mapping[str, frozenset[str]]) -> list[str]:
    """The candidate names (each with its verbs) that may be proposed for `typed`."""
    words = typed.lower().replace("_", "-").split("-")
    typed_verbs = {w for w in words if w in ec2_verbs()}
    if typed_verbs:
        return [name for name, verbs in candidates.items() if verbs & typed_verbs]
    return [name for name, verbs in candidates.items()
            if any(_alike(word, v) for word in words for v in verbs)]


def same_verb(typed: str, names: Iterable[str]) -> list[str]:
    """The parameter names that may be proposed for `typed`: if it holds an EC2 verb
    (`disable-dns-support`), only names holding it too, never `enable-dns-support`."""
    typed_verbs = {w for w in canonical_words(typed) if w in ec2_verbs()}
    if not typed_verbs:
        return list(names)
    return [n for n in names if typed_verbs & set(canonical_words(n))]


def canonical_words(name: str) -> list[str]:
    return name.lower().replace("_", "-").split("-")


def _alike(word: str, verb_: str) -> bool:
    import difflib  # suggestions and the whole catalog's aliases: not a one-shot call's

    return difflib.SequenceMatcher(None, word, verb_).ratio() >= VERB_LIKENESS


def derived_aliases(
    actions: Iterable[Any], taken: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """alias -> (action name, operation): the AWS CLI name of each operation an action
    calls as its own (its `operation`, and each operation its `presets` select), where no
    action or declared alias has that name. Where several actions call one operation (a
    describe and a list), the name goes to the action whose name is closest to it."""
    import difflib

    taken = set(taken)
    claims: dict[str, list[tuple[str, str]]] = {}
    for action in actions:
        for operation in dict.fromkeys((action.operation, *action.presets)):
            if operation:
                claims.setdefault(cli_name(operation), []).append((action.name, operation))
    return {
        alias: claimants[0] if len(claimants) == 1 else max(
            claimants, key=lambda c: difflib.SequenceMatcher(None, alias, c[0]).ratio())
        for alias, claimants in claims.items()
        if alias not in taken
    }


def with_cli_options(action: Any) -> tuple[Any, ...]:
    """The action's parameters, each also answering to the AWS CLI's option name for the
    input member it maps to (`instance-id` -> `InstanceIds` -> `--instance-ids`) where that
    differs and no other parameter of the action has it. Only members taking the value as
    it is: `--tag-specifications` or `--filters` want EC2's structures, not ours."""
    from dataclasses import replace

    taken = {n for p in action.all_params() for n in (p.name, *p.aliases)}
    params = []
    for param in action.params:
        spec = action.inputs.get(param.name)
        member = spec if getattr(spec, "convert", None) is None else None
        member = getattr(member, "member", member)
        option = cli_name(member) if isinstance(member, str) and "." not in member else None
        if option and option not in taken:
            taken.add(option)
            param = replace(param, aliases=(*param.aliases, option))
        params.append(param)
    return tuple(params)


class Fixed(ParamType):
    """The one value a name implies (`authorize-security-group-egress`: direction
    outbound): converted by the parameter's own type, then refused if it is another."""

    def __init__(self, inner: ParamType, value: Any, because: str) -> None:
        self.inner, self.value, self.because = inner, value, because
        self.name = inner.name

    def convert(self, value: Any, param: str) -> Any:
        converted = self.inner.convert(value, param)
        if converted != self.value:
            raise InvalidRequest(
                f"parameter '{param}' is '{self.value}' with {self.because}; call the "
                f"action by its own name for another")
        return converted

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "fixed": self.value}


def fixed_by(presets: Mapping[str, Any], because: str) -> Callable[[Any], Any]:
    """A function making a parameter take only its value in `presets` (others as they are)."""
    from dataclasses import replace

    def fix(param: Any) -> Any:
        if param.name not in presets:
            return param
        value = presets[param.name]
        return replace(param, type=Fixed(param.type, value, because), default=value)

    return fix
