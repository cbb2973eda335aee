"""The README's action catalog is the one the declarations generate."""

from __future__ import annotations

from pathlib import Path

from ec2_connector.docs import BEGIN, END, catalog_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_catalog_is_generated_from_declarations() -> None:
    text = README.read_text(encoding="utf-8")
    embedded = text[text.index(BEGIN): text.index(END) + len(END)]
    assert embedded == catalog_markdown(), "run: python -m ec2_connector.docs and paste it"


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = text.split("```bash", 1)[1].split("```", 1)[0]
    assert "./dev demo" in first_block and "./dev test" in first_block
