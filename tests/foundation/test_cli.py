import json
import subprocess
import sys

import pytest

from gristmill.cli import COMMANDS, build_parser, main


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: gristmill " + name in capsys.readouterr().out


def test_non_workspace_is_a_clear_error(tmp_path, capsys):
    assert main(["stats", str(tmp_path)]) == 2
    assert "not a gristmill workspace" in capsys.readouterr().err


def test_init_query_stats_round_trip(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    assert main(["query", str(ws), "SELECT count(*) AS n FROM samples", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"n": 0}
    assert main(["stats", str(ws), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 0


def test_bad_sql_is_a_clear_error(tmp_path, capsys):
    main(["init", str(tmp_path)])
    assert main(["query", str(tmp_path), "SELECT nope FROM samples"]) == 2
    assert "query failed" in capsys.readouterr().err


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "gristmill.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("gristmill ")


def test_parser_builds_without_side_effects():
    assert build_parser().prog == "gristmill"


def test_top_level_help_imports_no_stage_code():
    """`gristmill --help` lists commands from their one-line help without importing torch, Beam or FiftyOne.

    The bare `curation` package (it holds only `__version__`) loads with `gristmill`; none of its modules may."""
    code = ("import sys\nfrom gristmill.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in sys.modules\n"
            "               if m in ('torch', 'apache_beam', 'fiftyone', 'open_clip') or m.startswith('curation.'))\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY []"


def test_a_command_loads_only_its_own_module():
    code = ("import sys\nfrom gristmill.cli import main\nmain(['init', sys.argv[1]])\n"
            "print('LOADED', sorted(m for m in sys.modules if m.startswith('gristmill.commands.')))")
    with __import__("tempfile").TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", code, tmp + "/ws"], capture_output=True, text=True,
                             check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED ['gristmill.commands.init']"
