"""The catalog's index (actions/index.py): a one-shot command imports one action's module.

The index must say what the declarations say; and the catalog must never serve from an
index made from other sources (a new or edited module of declarations).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ec2_connector
from ec2_connector.actions import ACTIONS, catalog, index, index_facts

PROBE = """
import sys
from ec2_connector.actions import catalog
action = catalog.get(sys.argv[1])
operations = catalog.operations()
imported = sorted(m.rsplit(".", 1)[1] for m in sys.modules
                  if m.startswith("ec2_connector.actions."))
from ec2_connector.actions import ACTIONS  # the whole catalog, from here on
print(action.name)
print(operations == sorted({o for a in ACTIONS.values() for o in a.all_operations()}))
print(" ".join(imported))
"""


def test_the_index_is_what_the_declarations_give() -> None:
    # Out of date: `ec2_connector.actions.write_index()` rewrites it.
    assert index_facts() == {
        "NAMES": index.NAMES, "AWS_CLI_NAMES": index.AWS_CLI_NAMES,
        "OPERATIONS": index.OPERATIONS, "SECRET_NAMES": index.SECRET_NAMES,
        "SOURCES": index.SOURCES,
    }, "actions/index.py is out of date: run python -c 'from ec2_connector.actions import " \
       "write_index; write_index()'"
    assert index.trusted()


def run_probe(name: str, path: Path | None = None) -> list[str]:
    env = {"PYTHONPATH": str(path)} if path else {}
    done = subprocess.run([sys.executable, "-c", PROBE, name], capture_output=True,
                          text=True, timeout=60, env={**env, "PATH": "/usr/bin:/bin"},
                          cwd=path or Path.cwd())
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_one_action_imports_its_own_module_and_is_the_catalog_s_object() -> None:
    name, same_operations, modules = run_probe("describe-instances")
    assert name == "describe-instances" and same_operations == "True"
    assert "instances" in modules.split()
    assert not {"vpcs", "tags", "volumes", "passthrough"} & set(modules.split())
    # An alias of the AWS CLI's, with presets: the egress variant, by its alias.
    assert run_probe("authorize-security-group-egress")[0] == "authorize-security-group-egress"
    # In one process, whichever way an action was found first, it is one object.
    assert catalog.get("describe-instances") is ACTIONS["describe-instances"]


def test_an_index_made_from_other_sources_is_not_used(tmp_path: Path) -> None:
    # A copy of the package whose declarations were edited since the index was made:
    # every module is imported, as without an index.
    copy = tmp_path / "ec2_connector"
    shutil.copytree(Path(ec2_connector.__file__).parent, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    tags = copy / "actions" / "tags.py"
    tags.write_text(tags.read_text() + "\n# edited\n")
    name, same_operations, modules = run_probe("describe-instances", tmp_path)
    assert name == "describe-instances" and same_operations == "True"
    assert {"vpcs", "tags", "volumes", "passthrough"} <= set(modules.split())


def test_names_resolved_are_kept_within_a_bound() -> None:
    """A call looks its action up twice: the second look-up of a name is the first's
    object; names from callers (any spelling, any mistake) never grow the cache past
    its bound, and a wrong name is never kept."""
    from ec2_connector import actions
    from ec2_connector.errors import InvalidRequest
    from ec2_connector.spec import params

    first = actions.catalog.get("stop_instances")
    assert actions.catalog.get("stop_instances") is first
    assert actions.catalog.get("stop-instances") is first
    for n in range(actions.RESOLVED_CAP + 50):
        with pytest.raises(InvalidRequest):
            actions.catalog.get(f"no-such-action-{n}")
        assert actions.catalog.get(" " * (n % 40) + "stop-instances") is first
        params.canonical(f"key_{n}")
    assert len(actions._RESOLVED) <= actions.RESOLVED_CAP
    assert not any(name.startswith("no-such") for name in actions._RESOLVED)
    assert len(params._CANONICAL) <= params.CANONICAL_CAP
    assert params.canonical(" key_5 ") == "key-5" and params.canonical(7) == "7"
