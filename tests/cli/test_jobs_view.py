"""`jobs list` and `jobs show` for people and for scripts: every message whole at any
terminal width, one job as aligned `key: value` lines with its result as a table, and
`jobs show` through --query and -o like `call`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MotoServer, launch
from tests.harness.calls import Relay, config_for
from tests.harness.cli import ANSI, assert_one_line_error, clean_env, run_cli, run_tty


@dataclass
class Jobs:
    env: dict[str, str]
    ok: str  # describe-regions, succeeded
    failed: str  # describe-instances of an instance that does not exist
    message: str  # the failed job's message


def submit_and_wait(env: dict[str, str], *words: str) -> str:
    submitted = run_cli(env, "call", *words, "--async")
    assert submitted.returncode == 0, submitted.stderr
    job_id = str(json.loads(submitted.stdout)["job-id"])
    run_cli(env, "jobs", "wait", job_id, "--timeout", "30000")
    return job_id


@pytest.fixture(scope="module")
def jobs(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    tmp = tmp_path_factory.mktemp("jobs-view")
    config = tmp / "connectors.json"
    config.write_text(json.dumps({"connectors": {"aws-ec2": {
        "access-key": "AKIAEXAMPLEEXAMPLE00", "security-key": "test-secret-key-value",
        "region": "us-east-1", "endpoint-url": moto_server.url}}}))
    env = {**clean_env(tmp / "home"), "EC2_CONNECTOR_CONFIG": str(config)}
    ok = submit_and_wait(env, "describe-regions")
    failed = submit_and_wait(env, "describe-instances", "instance-id=i-0123456789abcdef0")
    record = json.loads(run_cli(env, "jobs", "show", failed).stdout)
    assert record["status"] == "failed" and len(record["message"]) > 60, record
    yield Jobs(env, ok, failed, record["message"])


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("columns", [50, 80, 160])
def test_jobs_list_shows_every_message_whole_within_the_width(jobs: Jobs, columns: int) -> None:
    shown = run_tty(jobs.env, "jobs", "list", columns=columns)
    assert shown.returncode == 0, shown.stderr
    lines = shown.plain.splitlines()
    assert all(len(line) <= columns for line in lines), (columns, lines)
    assert words(jobs.message) in words(shown.plain)
    assert lines[0].split()[:4] == ["ID", "STATUS", "ACTION", "AGE"]
    assert any(line.startswith(jobs.failed[:12]) for line in lines)
    if columns >= 80:  # the message has a column of its own, starting after AGE
        start = lines[0].index("MESSAGE")
        row = next(line for line in lines if line.startswith(jobs.failed[:12]))
        assert row[start:].split()[0] == jobs.message.split()[0]


def test_jobs_list_into_a_pipe_keeps_whole_messages_on_one_row(jobs: Jobs) -> None:
    table = run_cli(jobs.env, "jobs", "list", "-o", "table")
    row = next(line for line in table.stdout.splitlines() if line.startswith(jobs.failed[:12]))
    assert row.endswith(jobs.message)
    text = run_cli(jobs.env, "jobs", "list", "-o", "text")
    rows = [line.split("\t") for line in text.stdout.splitlines()]
    assert [jobs.failed[:12], "failed", "describe-instances"] in [r[:3] for r in rows]
    assert jobs.message in [r[-1] for r in rows]


def test_jobs_show_on_a_terminal_is_aligned_lines_and_the_result_table(jobs: Jobs) -> None:
    shown = run_tty(jobs.env, "jobs", "show", jobs.ok, columns=120)
    assert shown.returncode == 0, shown.stderr
    assert not shown.plain.lstrip().startswith("{")
    head, _, result = shown.plain.partition("\n\n")
    top = [line for line in head.splitlines() if not line.startswith(" ")]
    fields = dict(re.match(r"([a-z-]+):\s*(.*)", line).groups()  # type: ignore[union-attr]
                  for line in top)
    assert fields["job-id"] == jobs.ok and fields["status"] == "succeeded"
    assert fields["action"] == "get-regions"  # describe-regions is its AWS CLI name
    assert fields["response"].startswith("exitcode 0")
    assert fields["secrets-held-in-memory"] == "false"  # JSON, not Python's False
    starts = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in top
              if fields[line.split(":")[0]]}
    assert len(starts) == 1  # every value in one column
    # Where it ran is a block of its own, not one long line of JSON.
    assert fields["target"] == "" and "  region:" in head and "us-east-1" in head
    assert "resumed-from" not in fields  # an empty field is left out
    header, *rows = [line for line in result.splitlines() if line.strip()]
    assert header == header.upper() and any("us-east-1" in row for row in rows)


def test_jobs_show_takes_a_query_and_an_output(jobs: Jobs) -> None:
    status = run_cli(jobs.env, "jobs", "show", jobs.failed, "--query", "status", "-o", "text")
    assert (status.returncode, status.stdout) == (0, "failed\n")
    code = run_cli(jobs.env, "jobs", "show", jobs.failed, "--query", "response.exitcode")
    assert code.returncode == 0 and json.loads(code.stdout) not in (0, None)
    regions = run_cli(jobs.env, "jobs", "show", jobs.ok, "--query",
                      "response.data.*[].region-name", "-o", "text")
    assert regions.returncode == 0 and "us-east-1" in regions.stdout.split(), regions.stderr
    text = run_cli(jobs.env, "jobs", "show", jobs.failed, "-o", "text")
    assert "status\tfailed" in text.stdout.splitlines()
    piped = run_cli(jobs.env, "jobs", "show", jobs.ok)  # scripts keep the record as JSON
    assert json.loads(piped.stdout)["job-id"] == jobs.ok


def test_jobs_show_refuses_a_bad_query_in_one_line(jobs: Jobs, tmp_path: Path) -> None:
    unknown = run_cli(jobs.env, "jobs", "show", jobs.ok, "--query", "stauts")
    line = assert_one_line_error(unknown, 2)
    assert "'stauts'" in line and "status" in line and unknown.stdout == ""
    broken = run_cli(jobs.env, "jobs", "show", jobs.ok, "--query", "status[[")
    assert "JMESPath" in assert_one_line_error(broken, 2)
    assert json.loads(broken.stdout)["exitcode"] == 2  # the envelope, as for every usage error
    assert not ANSI.search(broken.stderr)


def test_jobs_cancel_ends_a_queued_job_and_refuses_the_rest_in_one_line(jobs: Jobs) -> None:
    from ec2_connector.jobs.store import SQLiteJobStore
    from tests.harness.jobs import record

    # A job nobody has claimed yet, as a submitter that has not started it leaves it.
    store = SQLiteJobStore(jobs.env["EC2_CONNECTOR_HOME"])
    store.add(record("cafe0123456789", action="describe-regions", params={}))
    store.close()
    cancelled = run_cli(jobs.env, "jobs", "cancel", "cafe01")  # a unique prefix
    assert cancelled.returncode == 0, cancelled.stderr
    shown = json.loads(cancelled.stdout)  # as `jobs show` prints it into a pipe
    assert shown["job-id"] == "cafe0123456789" and shown["status"] == "cancelled"
    assert shown["message"] == "cancelled by a user before it started; nothing was sent to EC2"
    assert shown["response"]["exitcode"] == 10 and shown["cancel-requested-at"]
    waited = run_cli(jobs.env, "jobs", "wait", "cafe01")
    assert waited.returncode == 10 and json.loads(waited.stdout)["exitcode"] == 10
    status = run_cli(jobs.env, "jobs", "cancel", jobs.ok, "--query", "status", "-o", "text")
    line = assert_one_line_error(status, 2)
    assert line == (f"ec2-connector: job {jobs.ok} is succeeded: only a queued, running or "
                    "interrupted job can be cancelled; nothing changed (exitcode 2)")
    before = run_cli(jobs.env, "jobs", "show", jobs.failed).stdout
    assert "is failed" in assert_one_line_error(run_cli(jobs.env, "jobs", "cancel",
                                                        jobs.failed), 2)
    assert run_cli(jobs.env, "jobs", "show", jobs.failed).stdout == before
    again = run_cli(jobs.env, "jobs", "cancel", "cafe0123456789")
    assert "is cancelled" in assert_one_line_error(again, 2)
    resumed = run_cli(jobs.env, "jobs", "resume", "cafe01")
    assert "is cancelled, not interrupted" in assert_one_line_error(resumed, 2)
    unknown = run_cli(jobs.env, "jobs", "cancel", "0000000000ff")
    assert "no job with id '0000000000ff'" in assert_one_line_error(unknown, 6)
    bad_query = run_cli(jobs.env, "jobs", "cancel", "cafe01", "--query", "status[[")
    assert "JMESPath" in assert_one_line_error(bad_query, 2)


def test_jobs_cancel_stops_a_running_job_of_another_process_before_its_next_change(
        moto_server: MotoServer, ec2: Any, image_id: str, tmp_path: Path) -> None:
    # stop-instances over a missing id and a real one: StopInstances (held at the relay
    # while the cancel lands), DescribeInstances, then StopInstances again, never sent.
    [instance] = launch(ec2, image_id, 1)
    with Relay(moto_server.port, "StopInstances", hold=True) as relay:
        config = tmp_path / "relay.json"
        config.write_text(json.dumps(config_for(relay.url, region="us-east-1")))
        env = {**clean_env(tmp_path / "home"), "EC2_CONNECTOR_CONFIG": str(config)}
        submitted = run_cli(env, "call", "stop-instances",
                            f"instance-id=i-0123456789abcdef0,{instance}", "--async")
        job_id = json.loads(submitted.stdout)["job-id"]
        deadline = time.monotonic() + 30
        while "StopInstances" not in relay.sent:
            assert time.monotonic() < deadline, relay.sent
            time.sleep(0.05)
        asked = run_cli(env, "jobs", "cancel", job_id[:8], "-o", "text")
        assert asked.returncode == 0, asked.stderr
        rows = dict(line.split("\t", 1) for line in asked.stdout.splitlines())
        assert rows["status"] == "running" and rows["cancel-requested-at"] != "null"
        relay.release.set()
        waited = run_cli(env, "jobs", "wait", job_id, "--timeout", "30000")
    assert waited.returncode == 10, waited.stdout
    said = json.loads(waited.stdout)
    assert said["message"] == ("cancelled by a user after 1 operation that change things had "
                               "been sent (StopInstances); StopInstances and everything after "
                               "it were not sent")
    assert relay.sent.count("StopInstances") == 1
    found = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert found["State"]["Name"] == "running"
