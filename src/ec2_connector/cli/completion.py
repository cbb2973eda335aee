"""Shell completion scripts: subcommands, action names, each action's parameter names,
file names after `=@`, and job ids (bash, zsh and fish).

The catalog is written into the script when it is generated, so a Tab press runs no
Python; only a job id (`jobs show <Tab>`) asks the command, as `jobs list` would, for
the latest 100. Regenerate after an upgrade (`ec2-connector completion bash > ...`).
"""

from __future__ import annotations

import argparse
from typing import Any

from .prog import PROG

COMMANDS = ("call", "actions", "jobs", "worker", "serve", "sandbox", "demo", "completion",
            "token", "audit")
JOBS = ("list", "show", "wait", "resume", "cancel", "prune")
_TAKE_ID = ("show", "wait", "resume", "cancel")  # the jobs commands whose argument is a job id
SHELLS = ("bash", "zsh", "fish")
_FUNCTION = "_ec2_connector"
FISH_JOB_IDS = f"{PROG} jobs list -o text --limit 100 2>/dev/null | cut -f1"


def script(shell: str, call: argparse.ArgumentParser) -> str:
    from ..actions import catalog

    entries = catalog.describe()
    options = [a for a in call._actions if a.option_strings]
    if shell == "fish":
        return _fish(entries, options)
    text = _bash(entries, options)
    if shell == "zsh":
        # zsh runs bash completion functions through its bashcompinit layer.
        text = "autoload -U +X bashcompinit && bashcompinit\n" + text
    return text


def _takes_value(option: argparse.Action) -> bool:
    return option.nargs != 0


def _names(entry: dict[str, Any]) -> list[str]:
    return [entry["name"], *entry.get("aliases", [])]


def _params(entry: dict[str, Any]) -> str:
    return " ".join(f"{p['name']}=" for p in entry["parameters"])


def _bash(entries: list[dict[str, Any]], options: list[argparse.Action]) -> str:
    actions = " ".join(n for e in entries for n in _names(e))
    flags = " ".join(o for a in options for o in a.option_strings)
    valued = "|".join(o for a in options if _takes_value(a) for o in a.option_strings)
    outputs = next(" ".join(a.choices) for a in options if "--output" in a.option_strings
                   and a.choices)
    cases = "\n".join(
        f"        {'|'.join(_names(e))}) echo \"{_params(e)}\" ;;" for e in entries
    )
    return f"""# {PROG} completion for bash: eval "$({PROG} completion bash)"
{_FUNCTION}_params() {{
    case "$1" in
{cases}
    esac
}}
# The latest jobs' ids (their first 12 characters: a unique prefix is enough), or none
# when the store cannot be read; $EC2_CONNECTOR_BROKER chooses the store, as for jobs list.
{_FUNCTION}_job_ids() {{
    local listed
    listed=$("$1" jobs list -o text --limit 100 2>/dev/null) || return 0
    printf '%s\n' "$listed" | cut -f1
}}
# After key=@ or key:=@ the value is read from a file: complete its name, keeping the @.
{_FUNCTION}_files() {{
    local name
    COMPREPLY=()
    while IFS= read -r name; do
        [[ -d "$name" ]] && name="$name/"
        COMPREPLY+=("@$name")
    done < <(compgen -f -- "${{1#@}}")
    compopt -o filenames 2>/dev/null
    [[ ${{#COMPREPLY[@]}} == 1 && "${{COMPREPLY[0]}}" == */ ]] && compopt -o nospace 2>/dev/null
    return 0
}}
{_FUNCTION}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local command="" action="" rest="" word i
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        # A flag's value (--region us-east-1, -o table) is not the action: skip both.
        case "$word" in {valued}) ((i++)); continue ;; esac
        # A pair reaches us split at = and : (COMP_WORDBREAKS): skip all of its parts.
        case "$word" in -*|=|:|:=|*=*) continue ;; esac
        case "${{COMP_WORDS[i+1]}}" in =|:|:=) continue ;; esac
        case "${{COMP_WORDS[i-1]}}" in =|:=) continue ;; esac
        if [[ -z "$command" ]]; then command="$word"
        elif [[ -z "$action" ]]; then action="$word"
        elif [[ -z "$rest" ]]; then rest="$word"; fi
    done
    if [[ "$command" == call && "$cur" == @* ]]; then
        case "$prev" in =|:=) {_FUNCTION}_files "$cur"; return 0 ;; esac
    fi
    case "$cur$prev" in *=*) return 0 ;; esac
    case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "{outputs}" -- "$cur")); return 0 ;;
    --config|--request) compopt -o default 2>/dev/null; COMPREPLY=(); return 0 ;;
    {valued}) return 0 ;;
    esac
    if [[ -z "$command" ]]; then
        COMPREPLY=($(compgen -W "{' '.join(COMMANDS)} --help --version" -- "$cur"))
        return 0
    fi
    case "$command" in
    call|actions)
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "{flags}" -- "$cur"))
        elif [[ -z "$action" ]]; then
            COMPREPLY=($(compgen -W "{actions}" -- "$cur"))
        elif [[ "$command" == call ]]; then
            COMPREPLY=($(compgen -W "$({_FUNCTION}_params "$action")" -- "$cur"))
            compopt -o nospace 2>/dev/null
        fi ;;
    jobs)
        if [[ -z "$action" ]]; then
            COMPREPLY=($(compgen -W "{' '.join(JOBS)}" -- "$cur"))
        elif [[ -z "$rest" && "$cur" != -* && " {' '.join(_TAKE_ID)} " == *" $action "* ]]; then
            COMPREPLY=($(compgen -W "$({_FUNCTION}_job_ids "${{COMP_WORDS[0]}}")" -- "$cur"))
        fi ;;
    completion) COMPREPLY=($(compgen -W "{' '.join(SHELLS)}" -- "$cur")) ;;
    esac
    return 0
}}
complete -F {_FUNCTION} {PROG}
"""


def _fish(entries: list[dict[str, Any]], options: list[argparse.Action]) -> str:
    actions = " ".join(n for e in entries for n in _names(e))
    lines = [
        f"# {PROG} completion for fish: {PROG} completion fish | source",
        f"complete -c {PROG} -f",
        f"complete -c {PROG} -n __fish_use_subcommand -a '{' '.join(COMMANDS)}'",
        f"complete -c {PROG} -n '__fish_seen_subcommand_from call actions; and not "
        f"__fish_seen_subcommand_from {actions}' -a '{actions}'",
        f"complete -c {PROG} -n '__fish_seen_subcommand_from jobs; and not "
        f"__fish_seen_subcommand_from {' '.join(JOBS)}' -a '{' '.join(JOBS)}'",
        # The same listing as bash's: a command substitution fish runs at each Tab.
        f"complete -c {PROG} -n '__fish_seen_subcommand_from jobs; and "
        f"__fish_seen_subcommand_from {' '.join(_TAKE_ID)}' -a '({FISH_JOB_IDS})'",
        f"complete -c {PROG} -n '__fish_seen_subcommand_from completion' "
        f"-a '{' '.join(SHELLS)}'",
    ]
    lines += [f"complete -c {PROG} -n '__fish_seen_subcommand_from call' {_fish_option(o)}"
              for o in options]
    for entry in entries:
        lines.append(
            f"complete -c {PROG} -n '__fish_seen_subcommand_from call; and "
            f"__fish_seen_subcommand_from {' '.join(_names(entry))}' -a '{_params(entry)}'"
        )
    return "\n".join(lines) + "\n"


def _fish_option(option: argparse.Action) -> str:
    names = " ".join(f"-l {o[2:]}" if o.startswith("--") else f"-s {o[1:]}"
                     for o in option.option_strings)
    if option.choices:
        return f"{names} -xa '{' '.join(option.choices)}'"
    return f"{names} -r" if _takes_value(option) else names
