"""Help made from the declarations: the catalog, and one action in full with an example.

`actions ACTION` and `call ACTION --help` print the same text: what the action does, each
parameter with its type, choices, default and whether it is secret, the rules across
parameters, what the result holds, and the declared example as a command line to run.
"""

from __future__ import annotations

import json
import shlex
import shutil
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..spec.action import CONNECTION_NAMES
from .prog import PROG

if TYPE_CHECKING:
    from ..spec.action import Action


def actions_list(entries: list[dict[str, Any]]) -> str:
    """The catalog as a list: one action per line with its one-line doc."""
    size = max(len(e["name"]) for e in entries)
    lines = [f"{e['name'].ljust(size)}  {e['doc']}" for e in entries]
    lines.append("")
    lines.append(f"'{PROG} actions ACTION' for its parameters and an example.")
    return "\n".join(lines)


def action_help(action: Action, width: int | None = None) -> str:
    """One action: its doc, parameters, rules, result and a ready-to-run example, wrapped
    to `width` (the terminal's; $COLUMNS, else 80); the example stays one line to copy."""
    width = max(40, width or shutil.get_terminal_size().columns)
    return "\n".join(w for line in _help_lines(action, width) for w in _wrapped(line, width))


def _wrapped(line: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    """`line` within `width` (a word longer than that stays whole), continued indented;
    the example command stays one line, to copy."""
    if rest is None:
        rest = "    " if line.startswith("  ") else "  "
    if len(first + line) <= width or line.startswith(f"  {PROG} call "):
        return [first + line]
    return textwrap.wrap(line, width, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False, break_long_words=False) or [first + line]


def _help_lines(action: Action, width: int) -> list[str]:
    entry = {**action.describe(), "fields": list(action.fields)}
    name = entry["name"]
    own = [p for p in entry["parameters"] if p["name"] not in CONNECTION_NAMES]
    required = " ".join(f"{p['name']}=..." for p in own if p.get("required"))
    lines = [f"{name}: {entry['doc']}", "",
             f"usage: {PROG} call {name} {required} [key=value ...] [options]".replace("  ", " ")]
    if entry.get("aliases"):
        lines.append(f"also called: {', '.join(entry['aliases'])}")
    if entry.get("aws-cli"):
        lines.append(f"the AWS CLI's equivalent: {entry['aws-cli']}")
    lines += ["", "parameters (* required):"]
    size = max((len(p["name"]) + 1 for p in own), default=0)
    for param in own:
        lines.extend(_param_lines(param, size, width))
    from ..docs import rule_text

    for rule in entry.get("rules", []):
        lines.append(f"rule: {rule_text(rule, quote='')}")
    common = [p for p in entry["parameters"] if p["name"] in CONNECTION_NAMES]
    lines += ["", "every action also takes: " + ", ".join(
        p["name"] + (" (secret)" if p.get("secret") else "") for p in common)]
    lines += _result_lines(entry)
    lines += ["", *_example_lines(entry, own)]
    return lines


def _param_lines(param: Mapping[str, Any], size: int, width: int) -> list[str]:
    label = param["name"] + ("*" if param.get("required") else "")
    notes = []
    if "default" in param:
        notes.append(f"default: {_shown(param['default'])}")
    if param.get("aliases"):
        notes.append(f"also: {', '.join(param['aliases'])}")
    if param.get("secret"):
        notes.append("secret: never shown, logged or stored")
    doc = param["doc"] + (f" ({'; '.join(notes)})" if notes else "")
    head = f"  {label.ljust(size)}  {param['type'].ljust(8)}  "
    if len(head) > width // 2:  # a narrow terminal: the text under the name, not beside
        lines, head = [f"  {label}  {param['type']}"], "      "
        lines += _wrapped(doc, width, head, head)
    else:
        lines = _wrapped(doc, width, head, " " * len(head))
    if param.get("choices"):
        indent = " " * len(head)
        lines += _wrapped(f"one of: {', '.join(param['choices'])}", width, indent, indent)
    return lines


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _result_lines(entry: Mapping[str, Any]) -> list[str]:
    result = entry.get("result")
    if not result:
        return []
    lines = ["", f"result: data['{result}']"]
    if entry.get("fields"):
        lines.append(f"  fields: {', '.join(entry['fields'])}")
    if entry.get("columns"):
        labels = [c.split("=", 1)[0] for c in entry["columns"]]
        lines.append(f"  table columns: {', '.join(labels)} (choose with --columns)")
    return lines


def _example_lines(entry: Mapping[str, Any], own: list[Mapping[str, Any]]) -> list[str]:
    example = entry.get("example")
    if example:
        return ["example:", "  " + example_command(entry["name"], example)]
    # No declared example: a template from the required parameters.
    template = {p["name"]: f"<{p['name']}>" for p in own if p.get("required")}
    return ["example (fill in the <...>):", "  " + example_command(entry["name"], template)]


def example_command(action: str, example: Mapping[str, Any]) -> str:
    """A request as the command line that sends it: strings as key=value, the rest as
    key:=json (a list of plain strings as key=a,b)."""
    words = [PROG, "call", action]
    for key, value in example.items():
        if isinstance(value, str):
            words.append(shlex.quote(f"{key}={value}"))
        elif isinstance(value, list) and value and all(_plain(v) for v in value):
            words.append(shlex.quote(f"{key}={','.join(value)}"))
        else:
            words.append(shlex.quote(f"{key}:={json.dumps(value, separators=(',', ':'))}"))
    return " ".join(words)


def _plain(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "," not in value and value.strip() == value
