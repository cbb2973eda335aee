"""The `ec2-connector` command as a real subprocess against the moto endpoint."""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import all_instances, launch
from tests.harness.cli import TIMEOUT, assert_one_line_error, clean_env, envelope, read_all, run_cli
from tests.harness.faults import free_port

SECRET = "CliSecretKeyValue/0123456789abcdef"
def test_call_prints_the_envelope_and_exits_with_its_exitcode(
    env: dict[str, str], image_id: str, ec2: Any
) -> None:
    result = run_cli(env, "call", "create-instance", f"image-id={image_id}",
                     "instance-type=t2.micro", "min-instance:=2")
    body = envelope(result)
    assert result.returncode == 0 and result.stderr == ""  # nothing extra when piped
    ids = sorted(i["instance-id"] for i in body["data"]["instance-info"])
    assert ids == sorted(i["InstanceId"] for i in all_instances(ec2))
    assert body["meta"]["action"] == "create-instance"


def test_a_failed_call_exits_with_its_code_and_one_stderr_line(env: dict[str, str]) -> None:
    result = run_cli(env, "call", "stop-instances", "instance-id=i-0123456789abcdef0")
    line = assert_one_line_error(result, 6)
    assert "InvalidInstanceID.NotFound" in line and envelope(result)["exitcode"] == 6


def test_request_from_stdin_with_pairs_over_it(
    env: dict[str, str], image_id: str, ec2: Any
) -> None:
    ids = launch(ec2, image_id, 2)
    request = {"action": "create-tags", "resource-id": ids, "tag-key": "env", "tag-value": "x"}
    result = run_cli(env, "call", "--request", "-", "tag-value=prod", stdin=json.dumps(request))
    assert envelope(result)["exitcode"] == 0
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["env"]}])["Tags"]
    assert sorted((t["ResourceId"], t["Value"]) for t in tags) == sorted((i, "prod") for i in ids)


def test_a_bad_json_value_is_exitcode_2_and_changes_nothing(
    env: dict[str, str], image_id: str, ec2: Any
) -> None:
    result = run_cli(env, "call", "create-instance", f"image-id={image_id}",
                     "instance-type=t2.micro", "min-instance:=two")
    line = assert_one_line_error(result, 2)
    assert "'min-instance'" in line and "not valid JSON" in line
    assert envelope(result) == {"exitcode": 2, "message": envelope(result)["message"],
                                "data": {}, "meta": {}}
    assert all_instances(ec2) == []


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["call", "--request", "/nonexistent/request.json"], None, "cannot read the request"),
        (["call", "--request", "-"], "[1, 2]", "must be a JSON object"),
        (["call", "--request", "-"], "{oops", "not valid JSON"),
        (["call"], None, "no action"),
        (["call", "describe-instances", "--no-such-option"], None, "unrecognized arguments"),
        (["call", "describe-instances", "=value"], None, "not key=value"),
        (["call", "describe-instances", "--timeout", "0"], None, "positive integer"),
        (["call", "describe-instances", "bogus-param=1"], None, "unknown parameter"),
        (["actions", "no-such-action"], None, "unknown action"),
        (["no-such-command"], None, "invalid choice"),
    ],
)
def test_user_errors_are_exitcode_2_with_one_line(
    env: dict[str, str], args: list[str], stdin: str | None, expected: str
) -> None:
    result = run_cli(env, *args, stdin=stdin)
    assert expected in assert_one_line_error(result, 2)
    assert envelope(result)["exitcode"] == 2


def test_secrets_never_appear_in_output(env: dict[str, str]) -> None:
    for args in (
        ["call", "describe-instances", f"security-key={SECRET}", "access-key=AKIAEXAMPLE"],
        ["call", "describe-instances", f"security-key={SECRET}", "bogus=1"],
        ["call", "describe-instances", f"security-key:={SECRET}"],
        ["call", "create-instance", f"user-data={SECRET}", "image-id=ami-12345678"],
    ):
        result = run_cli(env, *args)
        assert SECRET not in result.stdout + result.stderr, args
        assert "SecretKeyValue" not in result.stdout + result.stderr


def test_actions_json_is_the_catalog_and_needs_no_boto3(env: dict[str, str]) -> None:
    result = run_cli(env, "actions", "--json")
    names = [entry["name"] for entry in json.loads(result.stdout)]
    assert result.returncode == 0 and "create-instance" in names and len(names) >= 17
    # The AWS CLI names come from `botocore.xform_name`, in botocore's package module (a
    # name function and logging); nothing of the SDK itself is loaded.
    probe = (
        "import sys; from ec2_connector.cli import main; main(['actions', '--json']); "
        "sys.exit(1 if {'boto3', 'botocore.session', 'botocore.client', 'botocore.model', "
        "'botocore.loaders'} & set(sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          timeout=TIMEOUT).returncode == 0
    one = run_cli(env, "actions", "create-instance")
    assert one.returncode == 0 and "image-id" in one.stdout and "instance-info" in one.stdout
    assert "launch-template-name" in one.stdout


def test_table_output(env: dict[str, str], image_id: str, ec2: Any) -> None:
    ids = launch(ec2, image_id, 2)
    result = run_cli(env, "call", "describe-instances", "--output", "table")
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and lines[0].split()[:3] == ["ID", "NAME", "STATE"]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(ids)


def test_ndjson_output(env: dict[str, str], image_id: str, ec2: Any) -> None:
    ids = launch(ec2, image_id, 3)
    result = run_cli(env, "call", "describe-instances", "--output", "ndjson")
    *items, last = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(i["instance-id"] for i in items) == sorted(ids)
    assert last["exitcode"] == 0 and "instances-info" not in last["data"]
    assert last["meta"]["streamed-items"] == 3  # printed as their page arrived


def test_progress_is_drawn_on_a_terminal(env: dict[str, str], image_id: str) -> None:
    args = ["call", "create-instance", f"image-id={image_id}", "instance-type=t2.micro",
            "wait:=true", "wait-interval:=100"]
    master, slave = pty.openpty()
    try:
        result = run_cli(env, *args, stderr=slave)
        os.close(slave)
        drawn = read_all(master)
    finally:
        os.close(master)
    assert result.returncode == 0 and "waiting for running" in drawn


def test_wait_job_draws_the_jobs_status_and_erases_it(env: dict[str, str], image_id: str) -> None:
    args = ["call", "create-instance", f"image-id={image_id}", "instance-type=t2.micro",
            "wait:=true", "wait-interval:=200", "--wait-job"]
    master, slave = pty.openpty()
    try:
        result = run_cli(env, *args, stderr=slave)
        os.close(slave)
        drawn = read_all(master)
    finally:
        os.close(master)
    assert result.returncode == 0 and envelope(result)["data"]["instance-info"]
    assert re.search(r"job [0-9a-f]{12}: (queued|running)", drawn), drawn
    assert drawn.endswith("\r\x1b[K")  # erased before the response was printed


def test_progress_of_an_empty_listing_counts_0(env: dict[str, str]) -> None:
    master, slave = pty.openpty()
    try:
        result = run_cli(env, "call", "describe-key-pairs", stderr=slave)
        os.close(slave)
        drawn = read_all(master)
    finally:
        os.close(master)
    assert result.returncode == 0 and "described 0 so far" in drawn and "None" not in drawn


def test_async_job_then_jobs_show_wait_list(env: dict[str, str], image_id: str, ec2: Any) -> None:
    submitted = run_cli(env, "call", "create-instance", f"image-id={image_id}",
                        "instance-type=t2.micro", "--async")
    accepted = json.loads(submitted.stdout)
    assert submitted.returncode == 0 and set(accepted) == {"job-id", "status"}
    job_id = accepted["job-id"]
    waited = run_cli(env, "jobs", "wait", job_id, "--timeout", "30000")
    body = envelope(waited)
    assert body["exitcode"] == 0 and len(body["data"]["instance-info"]) == 1
    shown = json.loads(run_cli(env, "jobs", "show", job_id).stdout)
    assert shown["status"] == "succeeded" and shown["response"]["exitcode"] == 0
    listed = json.loads(run_cli(env, "jobs", "list").stdout)
    assert job_id in [job["job-id"] for job in listed]
    assert len(all_instances(ec2)) == 1
    missing = run_cli(env, "jobs", "show", "no-such-job")
    assert "no-such-job" in assert_one_line_error(missing, 6)


def test_wait_job_prints_the_jobs_envelope(env: dict[str, str]) -> None:
    result = run_cli(env, "call", "describe-instances", "--wait-job", "--output", "ndjson")
    last = json.loads(result.stdout.splitlines()[-1])
    assert result.returncode == 0 and last["exitcode"] == 0 and last["meta"]["job-id"]


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_async_returns_at_once_and_the_job_outlives_the_command(
    env: dict[str, str], silent_endpoint: str
) -> None:
    started = time.monotonic()
    submitted = run_cli(env, "call", "describe-instances", f"endpoint-url={silent_endpoint}",
                        "--timeout", "6000", "--async")
    assert submitted.returncode == 0 and time.monotonic() - started < 4
    job_id = json.loads(submitted.stdout)["job-id"]
    shown = json.loads(run_cli(env, "jobs", "show", job_id).stdout)
    assert shown["status"] in ("queued", "running")  # not interrupted: its process lives on
    early = run_cli(env, "jobs", "wait", job_id, "--timeout", "100")
    assert "still" in assert_one_line_error(early, 75)  # gave up: not the job's own 3
    assert envelope(early)["data"]["still-running"] is True
    waited = run_cli(env, "jobs", "wait", job_id, "--timeout", "20000")
    assert envelope(waited)["exitcode"] == 3
    assert json.loads(run_cli(env, "jobs", "show", job_id).stdout)["status"] == "timed-out"


def test_jobs_resume(env: dict[str, str], image_id: str, ec2: Any) -> None:
    from ec2_connector.jobs.record import JobRecord, JobStatus
    from ec2_connector.jobs.store import SQLiteJobStore

    store = SQLiteJobStore(env["EC2_CONNECTOR_HOME"])
    # Left running by a holder whose lease lapsed: any reader sees it interrupted.
    store.add(JobRecord("crashed", "aws-ec2", "create-instance",
                        {"image-id": image_id, "instance-type": "t2.micro",
                         "client-token": "resume-me"}, None,
                        status=JobStatus.RUNNING, holder="gone", lease_until=time.time() - 1))
    store.close()
    resumed = run_cli(env, "jobs", "resume", "crash")  # a unique prefix is enough
    assert resumed.returncode == 0, resumed.stderr
    launched = envelope(resumed)["data"]["instance-info"]
    assert [i["InstanceId"] for i in all_instances(ec2)] == [launched[0]["instance-id"]]
    again = run_cli(env, "jobs", "resume", "crashed")  # once only
    assert "not interrupted" in assert_one_line_error(again, 2)
    shown = json.loads(run_cli(env, "jobs", "show", "crashed").stdout)
    new_job = envelope(resumed)["meta"]["job-id"]
    assert shown["status"] == "resumed" and new_job in shown["message"]
    done = run_cli(env, "jobs", "resume", new_job)
    assert "not interrupted" in assert_one_line_error(done, 2)


def test_a_one_shot_call_imports_nothing_of_jobs(env: dict[str, str]) -> None:
    # Start-up is most of a one-shot call's time (compared with the AWS CLI's): the job
    # machinery is for --async and `jobs`, not for a sync call.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ec2_connector.cli", "call",
         "describe-instances"], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "ec2_connector.call" in imported  # the probe itself works
    assert not any(name.startswith("ec2_connector.jobs") for name in imported)


def test_a_sync_call_ends_with_its_output_flushed_and_atexit_handlers_run(
    env: dict[str, str], image_id: str, ec2: Any
) -> None:
    # The script ends a sync call's process without the interpreter's teardown (`run`):
    # what a normal exit does that anyone can see must still happen, in the same order.
    ids = launch(ec2, image_id, 3)
    probe = (
        "import atexit, sys; "
        "atexit.register(lambda: print('atexit ran', file=sys.stderr)); "
        "from ec2_connector.cli import run; run(sys.argv[1:])"
    )
    bodies = []
    for args, code in ((["call", "describe-instances"], 0),
                       (["call", "stop-instances", "instance-id=i-0123456789abcdef0"], 6)):
        done = subprocess.run([sys.executable, "-c", probe, *args], env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == code, done.stderr
        assert done.stderr.endswith("atexit ran\n")
        bodies.append(json.loads(done.stdout))  # whole: flushed before the process ended
        assert bodies[-1]["exitcode"] == code
    listed = bodies[0]["data"]["instances-info"]
    assert sorted(i["instance-id"] for i in listed) == sorted(ids)


def test_the_collector_is_held_only_until_the_script_s_first_request(
    env: dict[str, str],
) -> None:
    # transport/startup.py: the script holds the collector while it starts, and the first
    # request gives it back with start-up's objects frozen; `main()` called by a library
    # leaves the collector as it found it, and freezes nothing.
    report = ("import atexit, gc, sys; atexit.register(lambda: print(gc.isenabled(), "
              "gc.get_freeze_count() > 0, file=sys.stderr)); ")
    script = report + "from ec2_connector.cli import run; run(sys.argv[1:])"
    library = report + "from ec2_connector.cli import main; main(sys.argv[1:])"
    for probe, args, expected in (
        (script, ["call", "describe-instances"], "True True"),
        (script, ["call", "stop-instances", "instance-id=bogus"], "True False"),  # refused
        (library, ["call", "describe-instances"], "True False"),
    ):
        done = subprocess.run([sys.executable, "-c", probe, *args], env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert done.stderr.splitlines()[-1] == expected, (args, done.stderr)


def test_a_query_from_a_key_the_result_lacks_fails_naming_its_keys(
        env: dict[str, str]) -> None:
    """Why: `describe-instances --query 'instance-info[0]'` printed null with exit 0 (the
    key is create-instance's; describe's is instances-info)."""
    result = run_cli(env, "call", "describe-instances", "--query", "instance-info[0]")
    line = assert_one_line_error(result, 2)
    assert "no key 'instance-info'" in line and "instances-info" in line
    assert "the call itself succeeded" in line and result.stdout == ""
    good = run_cli(env, "call", "describe-instances", "--query", "instances-info", "-o", "json")
    assert good.returncode == 0 and json.loads(good.stdout) == []


def test_the_lines_dev_prints_after_the_demo_work_when_pasted(tmp_path: Path) -> None:
    """`./dev next` (what `./dev demo` ends with), pasted into a shell in another directory:
    the command is found on PATH, the sandbox starts, and the call answers exitcode 0."""
    root = Path(__file__).resolve().parents[2]
    venv = Path(sys.executable).parent.parent
    env = {**clean_env(tmp_path / "home"), "SANDBOX_PORT": str(free_port()),
           "VENV": os.path.relpath(venv, root), "PATH": "/usr/bin:/bin"}
    lines = subprocess.run([str(root / "dev"), "next"], env=env, capture_output=True,
                           text=True, timeout=TIMEOUT, check=True).stdout
    assert lines.startswith("next:") and "export PATH=" in lines
    # The trap only stops the sandbox should a line fail before the last one stops it.
    script = "set -e; trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + "\n".join(
        line.strip() for line in lines.splitlines()[1:])
    pasted = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert pasted.returncode == 0, pasted.stdout + pasted.stderr
    assert "EC2 sandbox (moto) listening" in pasted.stdout
    assert '"exitcode": 0' in pasted.stdout and '"instance-list": []' in pasted.stdout


def test_misspelt_options_choices_and_columns_get_a_suggestion(
        env: dict[str, str], ec2: Any, image_id: str) -> None:
    option = run_cli(env, "call", "describe-instances", "--ouput", "json")
    assert "did you mean '--output'?" in assert_one_line_error(option, 2)
    choice = run_cli(env, "call", "describe-instances", "-o", "tabel")
    assert "did you mean 'table'?" in assert_one_line_error(choice, 2)
    command_option = run_cli(env, "actions", "--jsn")
    assert "did you mean '--json'?" in assert_one_line_error(command_option, 2)
    launch(ec2, image_id)
    columns = run_cli(env, "call", "list-instances", "-o", "text", "--columns", "id,stat")
    assert columns.returncode == 0
    assert "column 'stat' is empty in every row (did you mean 'state'?" in columns.stderr


@pytest.mark.parametrize(("word", "text"), [
    ("tags=Name=web", """give {"Name": "web"} (on the command line: tags:='{"Name": "web"}')"""),
    ("min-instance=two", "'min-instance' must be an integer (like 2), got text"),
    ("min-instance:=[2]", "'min-instance' must be an integer (like 2), got a list"),
    ("key-name:=null", ""),  # null is "not given": the launch goes on to the endpoint
])
def test_a_type_error_shows_the_right_form_in_json_words(
        env: dict[str, str], word: str, text: str) -> None:
    result = run_cli(env, "call", "create-instance", "image-id=ami-12345678",
                     "instance-type=t2.micro", word, "dry-run=true")
    if not text:
        assert "must be" not in result.stderr
        return
    line = assert_one_line_error(result, 2)
    assert text in line and " str" not in line and "list," not in line


@pytest.mark.parametrize("columns", [60, 100])
def test_action_help_fits_the_terminal_width(tmp_path: Path, columns: int) -> None:
    env = {**clean_env(tmp_path), "COLUMNS": str(columns)}
    for action in ("create-instance",):
        result = run_cli(env, "actions", action)
        assert result.returncode == 0
        lines = result.stdout.splitlines()
        long = [line for line in lines if len(line) > columns
                and not line.startswith("  ec2-connector call ")]
        assert not long, long
        # Wrapped, not cut: every parameter's text is all there.
        text = " ".join(" ".join(lines).split())
        assert "IMDSv2: 'required' refuses metadata requests without a session token" in text
