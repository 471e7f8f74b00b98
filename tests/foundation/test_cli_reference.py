"""docs/cli.md and the README's command table are generated from the parser; they must not drift from it."""
from gristmill import cli_reference
from gristmill.cli import COMMANDS


def test_generated_cli_docs_match_the_code():
    assert cli_reference.stale() == [], "run: python -m gristmill.cli_reference"


def test_reference_has_a_section_per_command_and_subcommand():
    text = cli_reference.reference()
    for name in COMMANDS:
        assert f"## `gristmill {name}`" in text and f"usage: gristmill {name}" in text
    assert "### `gristmill engine status`" in text


def test_check_names_a_stale_readme(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text(cli_reference.README.read_text().replace("create a workspace", "make a workspace", 1))
    monkeypatch.setattr(cli_reference, "README", readme)
    monkeypatch.setattr(cli_reference, "ROOT", tmp_path)
    monkeypatch.setattr(cli_reference, "REFERENCE", tmp_path / "cli.md")
    (tmp_path / "cli.md").write_text(cli_reference.reference())
    assert cli_reference.main(["--check"]) == 1
    assert cli_reference.stale() == ["README.md"]
    assert cli_reference.main([]) == 0 and cli_reference.stale() == []
