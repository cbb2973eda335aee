"""The docs are true: generated parts equal to the code, a short README, links that resolve.

- docs/actions.md holds the catalog the declarations generate, docs/configuration.md the
  settings table `Settings` generates (`python -m ec2_connector.docs` writes both);
- docs/development.md's package map lists every module of the package, and nothing else;
- the README opens with the two `./dev` commands, stays under 10 KB and links every page;
- every relative link of README.md and docs/*.md reaches a file, and an anchor a heading;
- the README's table of exit codes has one row per `ExitCode`, and no other.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ec2_connector.docs import GENERATED, embedded, write_pages

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PACKAGE = ROOT / "src" / "ec2_connector"
README_LIMIT = 10 * 1024
PAGES = sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize("page", sorted(GENERATED))
def test_generated_parts_equal_the_code(page: str) -> None:
    begin, end, generate = GENERATED[page]
    text = (DOCS / page).read_text(encoding="utf-8")
    assert embedded(text, begin, end) == generate(), "run: python -m ec2_connector.docs"


def test_the_generator_rewrites_only_its_part_of_a_page(tmp_path: Path) -> None:
    for page in GENERATED:
        shutil.copy(DOCS / page, tmp_path / page)
    begin, end, _ = GENERATED["actions.md"]
    stale = tmp_path / "actions.md"
    original = stale.read_text(encoding="utf-8")
    stale.write_text(original.replace(embedded(original, begin, end), f"{begin}\nold\n{end}"),
                     encoding="utf-8")
    assert write_pages(tmp_path) == [stale]
    assert stale.read_text(encoding="utf-8") == original
    assert write_pages(tmp_path) == []


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = text.split("```bash", 1)[1].split("```", 1)[0]
    assert "./dev demo" in first_block and "./dev test" in first_block


def test_readme_is_short() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes: move detail to docs/"


def test_every_page_is_linked_from_the_readme() -> None:
    linked = {target.split("#")[0] for target in _links(README.read_text(encoding="utf-8"))}
    missing = [p.name for p in PAGES if f"docs/{p.name}" not in linked]
    assert PAGES and not missing, f"pages the README does not link: {missing}"


@pytest.mark.parametrize("source", [README, *PAGES], ids=lambda p: p.name)
def test_every_relative_link_resolves(source: Path) -> None:
    broken = []
    for target in _links(source.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # a URL: not ours to check offline
        path_part, _, anchor = target.partition("#")
        path = (source.parent / path_part).resolve() if path_part else source
        if not _resolves(path, anchor):
            broken.append(target)
    assert not broken, f"{source.name}: links that lead nowhere: {broken}"


def test_package_map_lists_every_module() -> None:
    listed = _package_map((DOCS / "development.md").read_text(encoding="utf-8"))
    real = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    assert sorted(real - listed) == [], "modules missing from docs/development.md"
    assert sorted(listed - real) == [], "docs/development.md lists modules that do not exist"


def test_the_exit_code_table_has_a_row_for_every_exit_code() -> None:
    from ec2_connector.errors import ConnectorError, ExitCode

    text = README.read_text(encoding="utf-8")
    table = text[text.index("### Exit codes"):].split("\n\n")[1]
    rows = [int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)]
    assert rows == [int(code) for code in ExitCode], "README's exit-code table"
    # Every code but success belongs to one error class, which carries it.
    classes = {cls.exit_code for cls in _subclasses(ConnectorError)}
    assert classes == set(ExitCode) - {ExitCode.SUCCESS}


def _subclasses(cls: type) -> list[type]:
    return [*(sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct)))]


def test_anchors_are_made_as_github_makes_them() -> None:
    text = "# A `call`: the *one* path\n## Retries\n```\n# not a heading\n```\n## Retries\n"
    assert anchors(text) == {"a-call-the-one-path", "retries", "retries-1"}


def _resolves(path: Path, anchor: str) -> bool:
    if not path.exists():
        return False
    return not anchor or (path.suffix == ".md" and anchor in anchors(path.read_text("utf-8")))


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def _links(text: str) -> list[str]:
    found = []
    for line in _prose(text):
        line = re.sub(r"`[^`]*`", "", line)  # code spans hold JSON, not links
        found += re.findall(r"\]\(([^)\s]+)\)", line)
    return found


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped,
    spaces as hyphens, a repeated one numbered."""
    seen: dict[str, int] = {}
    for line in _prose(text):
        match = re.match(r"#{1,6} +(.+?) *#*$", line)
        if not match:
            continue
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def _package_map(text: str) -> set[str]:
    """The modules docs/development.md's map lists; a folder's line is its __init__.py."""
    block = text.split("<!-- package-map:begin -->", 1)[1].split("<!-- package-map:end -->")[0]
    modules: set[str] = set()
    folders: list[str] = []
    for line in block.strip().strip("`").strip().splitlines()[1:]:  # below the root line
        depth = (len(line) - len(line.lstrip())) // 2
        name, _, about = line.strip().partition(" ")
        assert about.strip(), f"no description for {name} in the package map"
        del folders[depth - 1:]
        if name.endswith("/"):
            folders.append(name)
            name = "__init__.py"
        modules.add("".join(folders) + name)
    return modules
