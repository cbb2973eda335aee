"""Each package's `__all__` is what it serves, and every name it lists resolves."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ("ec2_connector", "ec2_connector.spec", "ec2_connector.transport",
            "ec2_connector.jobs", "ec2_connector.service", "ec2_connector.sandbox")


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_exported_name(name: str) -> None:
    package = importlib.import_module(name)
    served = set(package._EXPORTS) | ({"__version__"} if name == "ec2_connector" else set())
    assert sorted(package.__all__) == sorted(served)
    assert package.__all__ == sorted(package.__all__)
    for member in package.__all__:
        assert getattr(package, member) is not None, member


def test_an_unknown_name_is_an_attribute_error() -> None:
    import ec2_connector.jobs

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ec2_connector.jobs.Nope  # noqa: B018


def test_jobs_and_refusals_are_exported() -> None:
    import ec2_connector
    from ec2_connector.jobs.manager import Job, RefusedJob

    assert ec2_connector.Job is Job and ec2_connector.RefusedJob is RefusedJob
