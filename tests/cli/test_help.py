"""Help where people look: usage, version, one action's help and example, completion."""

from __future__ import annotations

import argparse
import shlex
import socket
from typing import Any

from ec2_connector import __version__
from tests.conftest import launch
from tests.harness.cli import assert_one_line_error, complete, envelope, run_cli


def test_usage_alone_help_and_version(env: dict[str, str]) -> None:
    alone = run_cli(env)
    assert alone.returncode == 2 and alone.stdout == ""
    assert alone.stderr.startswith("usage: ec2-connector") and "call" in alone.stderr
    asked = run_cli(env, "--help")
    assert asked.returncode == 0 and asked.stdout.startswith("usage: ec2-connector")
    assert "seed" not in asked.stdout  # no internal jargon
    version = run_cli(env, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"ec2-connector {__version__}"


def test_action_help_shows_choices_defaults_and_secrets(env: dict[str, str]) -> None:
    shown = run_cli(env, "call", "modify-instance-attribute", "--help")
    same = run_cli(env, "actions", "modify-instance-attribute")
    assert shown.returncode == same.returncode == 0 and shown.stdout == same.stdout
    text = " ".join(shown.stdout.split())  # wrapped to the terminal: compared as words
    assert "one of: instance-type, disable-api-termination, user-data" in text
    assert "attribute-value*" in text and "secret" in text
    create = " ".join(run_cli(env, "actions", "create-instance").stdout.split())
    assert "(default: 1; also: min-count)" in create
    assert "result: data['instance-info']" in create
    generic = run_cli(env, "call", "--help")
    assert generic.returncode == 0 and "--region" in generic.stdout
    assert "key=@FILE" in generic.stdout.replace("\n", " ")


def _example(help_text: str) -> list[str]:
    lines = help_text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("example"))
    return shlex.split(lines[start + 1])


def test_the_example_in_the_help_runs(env: dict[str, str], image_id: str, ec2: Any) -> None:
    launch(ec2, image_id, 1)
    words = _example(run_cli(env, "call", "list-instances", "--help").stdout)
    assert words[:3] == ["ec2-connector", "call", "list-instances"]
    ran = envelope(run_cli(env, *words[1:]))
    assert ran["exitcode"] == 0 and len(ran["data"]["instance-list"]) == 1


def test_every_declared_example_is_a_valid_command_line() -> None:
    from ec2_connector import Call
    from ec2_connector.actions import catalog
    from ec2_connector.cli.helptext import action_help
    from ec2_connector.cli.request import gather_request

    checked = 0
    with Call(config={}) as call:
        for name in catalog.names():
            words = _example(action_help(catalog.get(name)))
            if "<" in " ".join(words):  # a template: this action declares no example
                continue
            call.check("aws-ec2", gather_request(words[2:], None))  # raises if invalid
            checked += 1
    assert checked >= 15


def test_serve_help_documents_the_token_and_defaults(env: dict[str, str]) -> None:
    text = " ".join(run_cli(env, "serve", "--help").stdout.split())
    assert "EC2_CONNECTOR_TOKEN" in text and "Authorization: Bearer" in text
    assert "(default: 127.0.0.1)" in text and "(default: 8700)" in text


def test_serve_on_a_busy_port_is_one_line_and_exitcode_2(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli(env, "serve", "--port", str(port))
    assert "in use" in assert_one_line_error(result, 2)


def test_bash_completion_completes_commands_actions_and_parameters(
    env: dict[str, str],
) -> None:
    script = run_cli(env, "completion", "bash").stdout
    assert complete(script, "ec2-connector", "ca") == ["call"]
    assert complete(script, "ec2-connector", "call", "terminate-ins") == ["terminate-instances"]
    described = complete(script, "ec2-connector", "call", "describe-ins")
    assert "describe-instances" in described
    assert all(name.startswith("describe-ins") for name in described)
    offered = complete(script, "ec2-connector", "call", "stop-instances", "")
    assert {"instance-id=", "force=", "wait=", "region="} <= set(offered)
    # After a pair (split by bash at '='), the action is still the one found.
    after = complete(script, "ec2-connector", "call", "stop-instances", "region", "=",
                      "us-east-1", "ins")
    assert after == ["instance-id="]
    # A flag's value is not the action: AWS CLI habits put --region or -o first.
    for flag in (["--region", "us-east-1"], ["-o", "table"], ["--config", "c.json"]):
        assert complete(script, "ec2-connector", "call", *flag, "terminate-ins") == [
            "terminate-instances"]
        assert complete(script, "ec2-connector", "call", *flag, "stop-instances", "ins") == [
            "instance-id="]
    assert complete(script, "ec2-connector", "call", "describe-instances", "-o", "") == [
        "json", "table", "text", "ndjson"]
    assert complete(script, "ec2-connector", "call", "describe-instances", "--region", "") == []
    assert "-o" in complete(script, "ec2-connector", "call", "-")
    for shell in ("zsh", "fish"):
        other = run_cli(env, "completion", shell)
        assert other.returncode == 0 and "describe-instances" in other.stdout


def test_jobs_wait_that_gives_up_is_not_a_timed_out_job(env: dict[str, str]) -> None:
    text = " ".join(run_cli(env, "jobs", "wait", "--help").stdout.split())
    assert "Exit code 75" in text and "still-running" in text


def test_every_option_has_help(env: dict[str, str]) -> None:
    from ec2_connector.cli import build_parser

    def walk(parser: Any) -> list[str]:
        missing = [
            f"{parser.prog} {'/'.join(a.option_strings) or a.dest}"
            for a in parser._actions
            if not a.help and a.dest not in ("command", "jobs_command", "help")
        ]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    missing += walk(sub)
        return missing

    assert walk(build_parser()) == []


def test_each_command_s_module_is_the_one_that_registers_it() -> None:
    # parser.MODULE_OF lets a run import only its command's module: it must name the
    # module whose `register` adds each command, and every command.
    from ec2_connector.cli import commands, jobs, sharing  # noqa: F401  (they register)
    from ec2_connector.cli.options import COMMANDS
    from ec2_connector.cli.parser import MODULE_OF

    assert set(MODULE_OF) == set(COMMANDS)
    for name, (_, add) in COMMANDS.items():
        assert add.__module__ == f"ec2_connector.cli.{MODULE_OF[name]}", name


def test_an_unknown_argument_points_at_its_own_command_s_help(env: dict[str, str]) -> None:
    for words, command in ((["serve", "--bogus"], "serve"), (["jobs", "list", "-x"], "jobs list"),
                           (["actions", "create-instance", "more"], "actions")):
        line = assert_one_line_error(run_cli(env, *words), 2)
        assert line.startswith(f"ec2-connector: {command}: unrecognized arguments: "), line
        assert line.endswith(f"(see 'ec2-connector {command} --help') (exitcode 2)"), line
