"""Completion (bash, and zsh through bashcompinit): file names after `=@`, job ids after
`jobs show|wait|resume|cancel`, run through bash with the generated script; fish's lines
for job ids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.cli import clean_env, complete, run_cli
from tests.harness.jobs import record

PROG = "ec2-connector"


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> str:
    made = run_cli(clean_env(tmp_path_factory.mktemp("home")), "completion", "bash")
    assert made.returncode == 0, made.stderr
    return made.stdout


def test_file_names_after_at(script: str, tmp_path: Path) -> None:
    for name in ("cloud-init.sh", "cloud-config.yaml", "other.txt", "with space.sh"):
        (tmp_path / name).write_text("#!/bin/sh\n")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "tags.json").write_text("{}")

    def offered(*words: str) -> list[str]:
        return sorted(complete(script, PROG, "call", "create-instance", *words, cwd=tmp_path))

    assert offered("user-data", "=", "@cl") == ["@cloud-config.yaml", "@cloud-init.sh"]
    assert offered("user-data", "=", "@co") == ["@conf.d/"]
    assert offered("tags", ":=", "@conf.d/") == ["@conf.d/tags.json"]
    assert offered("user-data", "=", "@wi") == ["@with space.sh"]
    assert len(offered("user-data", "=", "@")) == 5  # four files and a folder
    assert offered("user-data", "=", "cl") == []  # a plain value: nothing to offer
    assert offered("user-data", "=", "@nothing-like-this") == []
    # The action and its parameters are still found after a file value.
    assert offered("user-data", "=", "@cloud-init.sh", "instance-t") == ["instance-type="]


@pytest.fixture
def jobs_env(tmp_path: Path) -> dict[str, str]:
    from ec2_connector.jobs.store import SQLiteJobStore

    env = clean_env(tmp_path / "home")
    store = SQLiteJobStore(env["EC2_CONNECTOR_HOME"])
    for job_id in ("a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", "f00dfeed0000111122223333444455556"):
        store.add(record(job_id))
    store.close()
    # The script runs the command the line names: here, the one installed in this venv.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_job_ids_after_the_jobs_commands_that_take_one(
    script: str, jobs_env: dict[str, str]
) -> None:
    def offered(*words: str) -> list[str]:
        return complete(script, PROG, "jobs", *words, env=jobs_env)

    both = ["a1b2c3d4e5f6", "f00dfeed0000"]
    for command in ("show", "wait", "resume", "cancel"):
        assert sorted(offered(command, "")) == both
    assert offered("show", "f0") == ["f00dfeed0000"]
    assert offered("show", "a1b2c3d4e5f6", "") == []  # one id is all it takes
    assert offered("list", "") == [] and offered("prune", "") == []
    assert offered("sh") == ["show"] and offered("ca") == ["cancel"]
    shown = run_cli(jobs_env, "jobs", "show", both[1])  # the offered prefix names the job
    assert shown.returncode == 0 and "f00dfeed0000111122223333444455556" in shown.stdout


def test_no_job_ids_and_no_noise_when_the_store_is_out_of_reach(
    script: str, jobs_env: dict[str, str]
) -> None:
    env = {**jobs_env, "EC2_CONNECTOR_BROKER": "redis://127.0.0.1:1/0"}
    assert complete(script, PROG, "jobs", "show", "", env=env) == []
    gone = {**jobs_env, "PATH": "/usr/bin:/bin"}  # the command is not on PATH at all
    assert complete(script, PROG, "jobs", "show", "", env=gone) == []


def test_fish_offers_job_ids_after_the_jobs_commands_that_take_one(
    jobs_env: dict[str, str]
) -> None:
    """fish is not on the test machine: the script's lines are checked, and the listing
    it runs at a Tab (plain shell syntax in both shells) is run here by bash."""
    from ec2_connector.cli.completion import FISH_JOB_IDS

    made = run_cli(jobs_env, "completion", "fish")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    ids = [line for line in lines if f"({FISH_JOB_IDS})" in line]
    assert ids == [f"complete -c {PROG} -n '__fish_seen_subcommand_from jobs; and "
                   "__fish_seen_subcommand_from show wait resume cancel' "
                   f"-a '({FISH_JOB_IDS})'"]
    # The subcommands are offered only until one is given.
    assert any("not __fish_seen_subcommand_from list show wait resume cancel prune' "
               "-a 'list show wait resume cancel prune'" in line for line in lines)
    listed = subprocess.run(["bash", "-c", FISH_JOB_IDS], env=jobs_env, capture_output=True,
                            text=True, timeout=60)
    assert sorted(listed.stdout.split()) == ["a1b2c3d4e5f6", "f00dfeed0000"]
    unreachable = {**jobs_env, "EC2_CONNECTOR_BROKER": "redis://127.0.0.1:1/0"}
    quiet = subprocess.run(["bash", "-c", FISH_JOB_IDS], env=unreachable,
                           capture_output=True, text=True, timeout=60)
    assert (quiet.stdout, quiet.stderr) == ("", "")
