"""The README is a public contract: its catalog reference and commands must match the code."""
import re
from pathlib import Path

from curation.catalog import Catalog
from curation.workspace import Workspace

README = (Path(__file__).parents[2] / "README.md").read_text()


def _catalog_section() -> dict[str, list[str]]:
    section = README.split("## Catalog", 1)[1].split("\n## ", 1)[0]
    views = {}
    for match in re.finditer(r"^- `(\w+)`: (.+?)(?=^- |^\n|\Z)", section, re.M | re.S):
        views[match.group(1)] = [c.strip() for c in " ".join(match.group(2).split()).split(",")]
    return views


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```", 2)[1]
    assert "make demo" in first_block and "make test" in first_block


def test_readme_lists_every_catalog_view_with_its_columns(tmp_path):
    documented = _catalog_section()
    actual = Catalog(Workspace.init(tmp_path)).views()
    assert set(documented) == set(actual), "README Catalog section and catalog views differ"
    for view, columns in actual.items():
        assert documented[view] == columns, f"README columns of view {view!r} are out of date"

