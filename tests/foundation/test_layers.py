"""The layers import downward only: schemas <- curation <- pipelines <- gristmill (the CLI); labeling_ui sits on
curation and schemas. Checked by parsing every file (nothing is imported), imports inside functions included."""
import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]

FORBIDDEN = {  # package -> top-level packages it must not import
    "schemas": {"curation", "pipelines", "labeling_ui", "gristmill"},
    "curation": {"pipelines", "labeling_ui", "gristmill"},
    "pipelines": {"labeling_ui", "gristmill"},
    "labeling_ui": {"pipelines", "gristmill"},
}


def imported_packages(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in `tree`, at any depth."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def upward_imports(root: Path) -> list[str]:
    """'file:line imports package' for every import under `root` that goes up a layer."""
    bad = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((root / package).rglob("*.py")):
            for line, imported in imported_packages(ast.parse(path.read_text(), str(path))):
                if imported in forbidden:
                    bad.append(f"{path.relative_to(root)}:{line} imports {imported}")
    return bad


def test_no_layer_imports_a_layer_above_it():
    bad = upward_imports(ROOT)
    assert not bad, "imports that go up a layer:\n" + "\n".join(bad)


def test_the_check_finds_imports_inside_functions(tmp_path):
    (tmp_path / "curation").mkdir()
    (tmp_path / "curation" / "ok.py").write_text("import json\nfrom schemas import SCHEMA_VERSION\nfrom . import x\n")
    (tmp_path / "curation" / "bad.py").write_text("def f():\n    from gristmill import __version__\n")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "bad.py").write_text("import curation.catalog\n")
    assert sorted(upward_imports(tmp_path)) == ["curation/bad.py:2 imports gristmill",
                                                "schemas/bad.py:1 imports curation"]
