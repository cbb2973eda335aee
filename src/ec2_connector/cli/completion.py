"""Shell completion scripts: subcommands, action names, each action's parameter names.

The catalog is written into the script when it is generated, so a Tab press runs no
Python. Regenerate after an upgrade (`ec2-connector completion bash > ...`).
"""

from __future__ import annotations

from typing import Any

from . import PROG

COMMANDS = ("call", "actions", "jobs", "worker", "serve", "sandbox", "demo", "completion")
CALL_FLAGS = ("--region", "--endpoint-url", "--profile", "--dry-run", "--connector",
              "--config", "--timeout", "--async", "--wait-job", "--request", "--output",
              "--query", "--columns", "--verbose", "--help")
JOBS = ("list", "show", "wait", "resume", "prune")
SHELLS = ("bash", "zsh", "fish")
_FUNCTION = "_ec2_connector"


def script(shell: str) -> str:
    from ..actions import catalog

    entries = catalog.describe()
    if shell == "fish":
        return _fish(entries)
    text = _bash(entries)
    if shell == "zsh":
        # zsh runs bash completion functions through its bashcompinit layer.
        text = "autoload -U +X bashcompinit && bashcompinit\n" + text
    return text


def _names(entry: dict[str, Any]) -> list[str]:
    return [entry["name"], *entry.get("aliases", [])]


def _params(entry: dict[str, Any]) -> str:
    return " ".join(f"{p['name']}=" for p in entry["parameters"])


def _bash(entries: list[dict[str, Any]]) -> str:
    actions = " ".join(n for e in entries for n in _names(e))
    cases = "\n".join(
        f"        {'|'.join(_names(e))}) echo \"{_params(e)}\" ;;" for e in entries
    )
    return f"""# {PROG} completion for bash: eval "$({PROG} completion bash)"
{_FUNCTION}_params() {{
    case "$1" in
{cases}
    esac
}}
{_FUNCTION}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local command="" action="" word i
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        # A pair reaches us split at = and : (COMP_WORDBREAKS): skip all of its parts.
        case "$word" in -*|=|:|:=|*=*) continue ;; esac
        case "${{COMP_WORDS[i+1]}}" in =|:|:=) continue ;; esac
        case "${{COMP_WORDS[i-1]}}" in =|:=) continue ;; esac
        if [[ -z "$command" ]]; then command="$word"
        elif [[ -z "$action" ]]; then action="$word"; fi
    done
    case "$cur$prev" in *=*) return 0 ;; esac
    if [[ -z "$command" ]]; then
        COMPREPLY=($(compgen -W "{' '.join(COMMANDS)} --help --version" -- "$cur"))
        return 0
    fi
    case "$command" in
    call|actions)
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "{' '.join(CALL_FLAGS)}" -- "$cur"))
        elif [[ -z "$action" ]]; then
            COMPREPLY=($(compgen -W "{actions}" -- "$cur"))
        elif [[ "$command" == call ]]; then
            COMPREPLY=($(compgen -W "$({_FUNCTION}_params "$action")" -- "$cur"))
            compopt -o nospace 2>/dev/null
        fi ;;
    jobs) [[ -z "$action" ]] && COMPREPLY=($(compgen -W "{' '.join(JOBS)}" -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W "{' '.join(SHELLS)}" -- "$cur")) ;;
    esac
    return 0
}}
complete -F {_FUNCTION} {PROG}
"""


def _fish(entries: list[dict[str, Any]]) -> str:
    actions = " ".join(n for e in entries for n in _names(e))
    lines = [
        f"# {PROG} completion for fish: {PROG} completion fish | source",
        f"complete -c {PROG} -f",
        f"complete -c {PROG} -n __fish_use_subcommand -a '{' '.join(COMMANDS)}'",
        f"complete -c {PROG} -n '__fish_seen_subcommand_from call actions; and not "
        f"__fish_seen_subcommand_from {actions}' -a '{actions}'",
        f"complete -c {PROG} -n '__fish_seen_subcommand_from jobs' -a '{' '.join(JOBS)}'",
        f"complete -c {PROG} -n '__fish_seen_subcommand_from completion' "
        f"-a '{' '.join(SHELLS)}'",
    ]
    lines += [
        f"complete -c {PROG} -n '__fish_seen_subcommand_from call' -l {flag[2:]}"
        for flag in CALL_FLAGS
    ]
    for entry in entries:
        lines.append(
            f"complete -c {PROG} -n '__fish_seen_subcommand_from call; and "
            f"__fish_seen_subcommand_from {' '.join(_names(entry))}' -a '{_params(entry)}'"
        )
    return "\n".join(lines) + "\n"
