"""The package as users install it: an sdist, a wheel built from that sdist, and the
`ec2-connector` command run from the installed wheel, not from this source tree.

The build is `python -m build --no-isolation` (setuptools and build come with the dev
extra), so it needs no network. The wheel goes into a fresh venv with `--no-deps`; its
dependencies are the test environment's, reached by a bare path in a `.pth` file: a path
line adds that directory only, so the `.pth` files inside it (the editable install's hook
back to src/) are never run and the command can only import the wheel's copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import ec2_connector

SOURCE = Path(ec2_connector.__file__).parent  # src/ec2_connector
ROOT = SOURCE.parent.parent
SUBPACKAGES = ("spec", "actions", "transport", "jobs", "cli", "service", "sandbox")


def _package_files() -> set[str]:
    """Every file of the package as the wheel names it (ec2_connector/cli/jobs.py)."""
    return {p.relative_to(SOURCE.parent).as_posix() for p in SOURCE.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel), built from a copy of the project so the worktree gets no build/."""
    work = tmp_path_factory.mktemp("project")
    shutil.copytree(SOURCE.parent, work / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, work / name)
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                           str(out), str(work)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def test_the_wheel_holds_every_module_and_data_file(built: tuple[Path, Path]) -> None:
    _, wheel = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
        points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert not _package_files() - names, sorted(_package_files() - names)
    assert "ec2_connector/py.typed" in names  # type hints reach users' mypy
    # Package data: the console's own stylesheet and script, served from the install.
    assert {f"ec2_connector/service/console/static/console.{kind}"
            for kind in ("css", "js")} <= names
    assert {f"ec2_connector/{p}/__init__.py" for p in SUBPACKAGES} <= names
    assert "ec2-connector = ec2_connector.cli:run" in points  # main(), then a quick end
    extras = set(metadata.get_all("Provides-Extra") or ())
    assert {"service", "worker", "sandbox"} <= extras
    requires = metadata.get_all("Requires-Dist") or []
    assert any(r.startswith("fastapi") and 'extra == "service"' in r for r in requires)
    assert any(r.startswith("celery") and 'extra == "worker"' in r for r in requires)


def test_the_sdist_holds_the_sources_and_the_readme(built: tuple[Path, Path]) -> None:
    sdist, _ = built
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        names = {n.removeprefix(top + "/") for n in archive.getnames()}
    assert {"pyproject.toml", "README.md"} <= names
    missing = {f"src/{f}" for f in _package_files()} - names
    assert not missing, sorted(missing)


def test_the_installed_command_runs_from_the_wheel(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    _, wheel = built
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stderr[-2000:]
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                           "'purelib'))"], capture_output=True, text=True, check=True)
    installed = Path(site.stdout.strip())
    (installed / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=60)

    where = run(str(python), "-c", "import importlib, ec2_connector; print(ec2_connector."
                "__file__); [print(importlib.import_module('ec2_connector.' + p).__file__) "
                f"for p in {SUBPACKAGES!r}]")
    assert where.returncode == 0, where.stderr
    files = [Path(line) for line in where.stdout.split()]
    assert len(files) == 1 + len(SUBPACKAGES)
    assert all(f.is_relative_to(installed) for f in files), files
    command = shutil.which("ec2-connector", path=env["PATH"])
    assert command is not None and Path(command).parent == venv / "bin"
    version = run(command, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.split() == ["ec2-connector", ec2_connector.__version__]
    listed = run(command, "actions", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {entry["name"] for entry in json.loads(listed.stdout)}
    assert {"create-instance", "describe-instances", "call-operation"} <= names
