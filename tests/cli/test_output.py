"""What the command prints: tables on a terminal, JSON into pipes, text, --query, colour."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import launch
from tests.harness.cli import TIMEOUT, assert_one_line_error, envelope, run_cli, run_tty


@pytest.fixture
def named(ec2: Any, image_id: str) -> list[str]:
    """Three running instances tagged Name=web-N, one of them stopped."""
    ids = launch(ec2, image_id, 3)
    for n, instance in enumerate(ids):
        ec2.create_tags(Resources=[instance], Tags=[{"Key": "Name", "Value": f"web-{n}"}])
    ec2.stop_instances(InstanceIds=[ids[2]])
    return ids


def test_a_terminal_gets_the_curated_columns_fitted_to_its_width(
    env: dict[str, str], named: list[str], ec2: Any
) -> None:
    narrow = run_tty(env, "call", "describe-instances", columns=80)
    assert narrow.returncode == 0 and narrow.stderr == ""
    lines = narrow.plain.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "STATE"]  # state and Name always fit
    assert all(len(line) <= 80 for line in lines), lines
    assert "LAUNCHED" not in lines[0] and "not shown at this width" in lines[-1]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert set(rows) == set(named)
    truth = {i["InstanceId"]: i for r in ec2.describe_instances()["Reservations"]
             for i in r["Instances"]}
    for instance, row in rows.items():
        name = next(t["Value"] for t in truth[instance]["Tags"] if t["Key"] == "Name")
        assert row[1:3] == [name, truth[instance]["State"]["Name"]]
    wide = run_tty(env, "call", "describe-instances", columns=160)
    header = wide.plain.splitlines()[0].split()
    assert header == ["ID", "NAME", "STATE", "TYPE", "AZ", "PRIVATE-IP", "PUBLIC-IP",
                      "LAUNCHED"]
    assert "not shown" not in wide.plain and "{" not in wide.plain  # no JSON cells
    assert "\x1b[32mrunning" in wide.stdout and "\x1b[31mstopped" in wide.stdout


def test_no_color_and_chosen_columns(env: dict[str, str], named: list[str]) -> None:
    plain = run_tty({**env, "NO_COLOR": "1"}, "call", "describe-instances",
                    "--columns", "id,state,tags.Name,instance-type", columns=120)
    assert "\x1b[" not in plain.stdout
    lines = plain.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATE", "NAME", "INSTANCE-TYPE"]
    rows = sorted(line.split() for line in lines[1:])
    assert [row[0] for row in rows] == sorted(named)  # "id": the curated column of that label
    assert sorted(row[2] for row in rows) == ["web-0", "web-1", "web-2"]
    assert plain.stderr == ""
    typo = run_tty(env, "call", "describe-instances", "--columns", "id,sate", columns=120)
    assert typo.returncode == 0 and "column 'sate' is empty in every row" in typo.stderr


def test_the_state_after_a_wait_is_the_state_shown(
    env: dict[str, str], named: list[str], ec2: Any
) -> None:
    result = run_tty(env, "call", "stop-instances", f"instance-id={named[0]}", "wait:=true",
                     "wait-interval:=100", columns=100)
    assert result.returncode == 0
    rows = [line.split() for line in result.plain.splitlines()]
    assert rows[0] == ["ID", "STATE", "PREVIOUS"]
    truth = ec2.describe_instances(InstanceIds=[named[0]])["Reservations"][0]["Instances"][0]
    assert rows[1] == [named[0], truth["State"]["Name"], "running"]
    assert rows[1][1] == "stopped" and "last-states" not in result.plain


def test_a_failure_on_a_terminal_is_one_line_and_no_envelope(env: dict[str, str]) -> None:
    result = run_tty(env, "call", "describe-instances", "instance-id=i-0123456789abcdef0")
    assert result.returncode == 6 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "NotFound" in result.stderr


def test_a_pipe_keeps_the_envelope_and_headers_need_verbose(
    env: dict[str, str], named: list[str]
) -> None:
    quiet = envelope(run_cli(env, "call", "describe-instances"))
    assert "headers" not in quiet["meta"] and len(quiet["data"]["instances-info"]) == 3
    verbose = envelope(run_cli(env, "call", "describe-instances", "--verbose"))
    assert verbose["meta"]["headers"] and verbose["data"] == quiet["data"]
    table = run_tty(env, "call", "describe-instances", "-v", columns=100)
    assert "meta:" in table.plain and "headers:" in table.plain


def test_text_and_query_for_shell_pipelines(
    env: dict[str, str], named: list[str], ec2: Any
) -> None:
    ids = run_cli(env, "call", "list-instances", "--query", "instance-list[].instance-id",
                  "--output", "text")
    assert ids.returncode == 0 and sorted(ids.stdout.split()) == sorted(named)
    assert ids.stdout.count("\n") == 3  # one per line: $(...) and `while read` both work
    rows = run_cli(env, "call", "describe-instances", "--output", "text",
                   "--columns", "instance-id,instance-state-name,tags.Name")
    parsed = sorted(line.split("\t") for line in rows.stdout.splitlines())
    truth = sorted([i["InstanceId"], i["State"]["Name"], i["Tags"][0]["Value"]]
                   for r in ec2.describe_instances()["Reservations"] for i in r["Instances"])
    assert parsed == truth  # no header, tab-separated, one row per item
    stopped = run_cli(env, "call", "describe-instances", "--query",
                      "instances-info[?instance-state-name=='stopped'].tags.Name")
    assert json.loads(stopped.stdout) == ["web-2"]


def test_a_bad_query_is_refused_before_anything_is_sent(env: dict[str, str]) -> None:
    result = run_cli(env, "call", "create-security-group", "group-name=q", "description=d",
                     "--query", "group-id[")
    assert result.returncode == 2 and "--query" in result.stderr
    assert "group-id" not in envelope(result)["data"]


@pytest.mark.parametrize("output", ["json", "ndjson", "text", "table"])
def test_a_closed_pipe_exits_quietly_with_0(
    env: dict[str, str], named: list[str], output: str
) -> None:
    # The reader is gone before the first write (as `| head -1` once it has its line).
    proc = subprocess.Popen(
        [sys.executable, "-m", "ec2_connector.cli", "call", "describe-instances",
         "--output", output], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        stderr = proc.stderr.read()
    assert proc.wait(TIMEOUT) == 0 and stderr == b""


def test_head_takes_the_first_line_of_a_long_listing(
    env: dict[str, str], ec2: Any, image_id: str
) -> None:
    launch(ec2, image_id, 40)
    done = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m ec2_connector.cli call describe-instances "
         "--output ndjson | head -1; echo \"${PIPESTATUS[0]}\""],
        env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )
    first, status = done.stdout.splitlines()
    assert json.loads(first)["instance-id"].startswith("i-") and status == "0"
    assert done.stderr == ""


def test_a_query_that_cannot_apply_never_hides_the_call_s_own_outcome(
    env: dict[str, str], named: list[str]
) -> None:
    # A failed call keeps its own exitcode and its one line, whatever the query makes of
    # the (empty) data it carries.
    failed = run_cli(env, "call", "describe-instances", "instance-id=i-0123456789abcdef0",
                     "--query", "length(instances-info)")
    assert "NotFound" in assert_one_line_error(failed, 6) and failed.stdout == ""
    # A call that succeeded, with a query a function cannot take (length of null): one line
    # that says the call ran and why the query failed, not an "unexpected failure".
    done = run_cli(env, "call", "describe-instances", "--query", "length(nothing)")
    line = assert_one_line_error(done, 2)
    assert "--query" in line and "length()" in line and "the call itself succeeded" in line
    assert done.stdout == ""
    # A column that is an expression reads '-' where it cannot apply, as a missing key does.
    rows = run_cli(env, "call", "describe-instances", "--output", "text",
                   "--columns", "instance-id,n=length(nothing)")
    assert rows.returncode == 0 and rows.stderr.startswith("ec2-connector: note: column 'n'")
    assert sorted(line.split("\t")[0] for line in rows.stdout.splitlines()) == sorted(named)
    assert {line.split("\t")[1] for line in rows.stdout.splitlines()} == {"None"}


@pytest.mark.parametrize("output", ["json", "ndjson", "text", "table"])
def test_a_closed_pipe_keeps_a_failure_s_exitcode(env: dict[str, str], output: str) -> None:
    # `set -o pipefail; ec2-connector call ... | head -1` must still see the call fail.
    proc = subprocess.Popen(
        [sys.executable, "-m", "ec2_connector.cli", "call", "describe-instances",
         "instance-id=i-0123456789abcdef0", "--output", output],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        stderr = proc.stderr.read()
    assert proc.wait(TIMEOUT) == 6
    assert len(stderr.splitlines()) == 1 and "NotFound" in stderr and "Traceback" not in stderr


def test_jobs_list_is_a_table_on_a_terminal_and_json_into_a_pipe(
    env: dict[str, str], named: list[str]
) -> None:
    done = run_cli(env, "call", "describe-instances", "--wait-job")
    failed = run_cli(env, "call", "stop-instances", "instance-id=i-0123456789abcdef0",
                     "--wait-job")
    assert (done.returncode, failed.returncode) == (0, 6)
    shown = run_tty(env, "jobs", "list", columns=100)
    assert shown.returncode == 0 and shown.stderr == ""
    lines = shown.plain.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "ACTION", "AGE", "MESSAGE"]
    # A long message wraps in its column: its next lines start with spaces.
    assert [line.split()[1:3] for line in lines[1:] if not line.startswith(" ")] == [
        ["failed", "stop-instances"], ["succeeded", "describe-instances"]]
    assert "\x1b[32msucceeded" in shown.stdout and "\x1b[31mfailed" in shown.stdout
    assert "\x1b[" not in run_tty({**env, "NO_COLOR": "1"}, "jobs", "list").stdout
    piped = json.loads(run_cli(env, "jobs", "list").stdout)
    assert [job["status"] for job in piped] == ["failed", "succeeded"]
    text = run_cli(env, "jobs", "list", "-o", "text").stdout.splitlines()
    assert [row.split("\t")[1] for row in text] == ["failed", "succeeded"]
    assert [row.split("\t")[0] for row in text] == [job["job-id"][:12] for job in piped]


def test_async_answers_as_query_and_output_ask(env: dict[str, str], named: list[str]) -> None:
    job = run_cli(env, "call", "describe-instances", "--async", "--query", "job-id", "-o", "text")
    assert job.returncode == 0 and re.fullmatch(r"[0-9a-f]{32}\n", job.stdout), job.stdout
    waited = envelope(run_cli(env, "jobs", "wait", job.stdout.strip(), "--timeout", "30000"))
    assert waited["exitcode"] == 0 and len(waited["data"]["instances-info"]) == 3
    shown = run_tty(env, "call", "describe-instances", "--async")
    lines = shown.plain.splitlines()
    assert shown.returncode == 0 and lines[0].startswith("job-id: ") and "{" not in shown.plain
    assert set(json.loads(run_cli(env, "call", "describe-instances", "--async").stdout)) == {
        "job-id", "status"}  # into a pipe: as before


def test_a_query_s_own_objects_are_a_table_of_their_keys(
    env: dict[str, str], named: list[str], ec2: Any
) -> None:
    # The AWS CLI habit --query '...[].{name: ..., type: ...}' on a terminal: the table has
    # the query's keys, not the curated columns (which would read nothing in them).
    picked = run_tty(env, "call", "describe-instances", "--query",
                     "instances-info[].{name: tags.Name, type: instance-type}", columns=100)
    lines = picked.plain.splitlines()
    assert picked.returncode == 0 and lines[0].split() == ["NAME", "TYPE"]
    assert sorted(line.split() for line in lines[1:]) == [
        ["web-0", "t2.micro"], ["web-1", "t2.micro"], ["web-2", "t2.micro"]]
    # The result's own items, filtered, keep the curated columns.
    stopped = run_tty(env, "call", "describe-instances", "--query",
                      "instances-info[?instance-state-name=='stopped']", columns=160)
    rows = stopped.plain.splitlines()
    assert rows[0].split()[:3] == ["ID", "NAME", "STATE"]
    assert rows[1].split()[:3] == [named[2], "web-2", "stopped"] and len(rows) == 2


def test_an_empty_listing_on_a_terminal_is_one_line(env: dict[str, str]) -> None:
    empty = run_tty(env, "call", "describe-key-pairs")
    assert empty.returncode == 0 and empty.plain.splitlines() == ["(none)"]
    done = run_tty(env, "call", "create-security-group", "group-name=g", "description=d")
    assert done.returncode == 0 and [line.split(": ")[0] for line in done.plain.splitlines()] == [
        "group-id"]


def test_every_output_option_has_a_format_and_every_format_an_option() -> None:
    from ec2_connector.cli.options import OUTPUTS
    from ec2_connector.cli.render import FORMATS

    assert sorted(OUTPUTS) == sorted(FORMATS)
