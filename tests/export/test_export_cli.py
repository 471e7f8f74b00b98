"""`gristmill export WORKSPACE --out DIR`, `gristmill export verify DIR`, `gristmill export diff A B`."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from curation.errors import GristmillError
from gristmill.cli import COMMANDS, main
from pipelines.export.journal import inside


def cli(*argv) -> int:
    """`gristmill export ARGV...`; its exit code."""
    return main(["export", *map(str, argv)])


def test_export_verify_and_diff(ws, tmp_path, capsys):
    out = tmp_path / "rel"
    assert cli(ws.root, "--out", out, "--split", "val=0.2", "--format", "parquet", "--format", "webdataset",
               "--shard-size", "200KB") == 0
    text = capsys.readouterr().out
    assert "wrote data/train-00000.parquet" in text and "PLACEHOLDER" in text and "val" in text
    assert cli("verify", out) == 0
    assert "match their checksums" in capsys.readouterr().out
    assert cli("diff", out, out, "--json") == 0
    same = json.loads(capsys.readouterr().out)
    scores = same.pop("changed_scores")
    assert {"basic", "caption", "clip"} <= set(scores) and not any(scores.values())
    assert same == {"added": [], "removed": [], "changed_captions": [], "changed_splits": [], "changed_media": [],
                    "changed_labels": {}, "in_both": 30, "media_basis": "sha256 column and sha256 of the media bytes"}


def test_json_result(ws, tmp_path, capsys):
    assert cli(ws.root, "--out", tmp_path / "rel", "--references", "--json") == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["rows"] > 0 and result["placeholder_scorers"] == ["clip"]


def test_verify_names_the_corrupted_shard_and_fails(ws, tmp_path, capsys):
    out = tmp_path / "rel"
    cli(ws.root, "--out", out, "--shard-size", "100KB")
    victim = out / "data" / "train-00001.parquet"
    victim.write_bytes(victim.read_bytes()[:-1] + b"X")
    capsys.readouterr()
    assert cli("verify", out) == 1
    assert "data/train-00001.parquet: checksum_mismatch" in capsys.readouterr().out


def test_a_release_is_replaced_only_with_overwrite(ws, tmp_path, capsys):
    out = tmp_path / "rel"
    assert cli(ws.root, "--out", out, "--shard-size", "100KB") == 0
    assert cli(ws.root, "--out", out) == 2
    assert "already holds a release" in capsys.readouterr().err
    assert cli(ws.root, "--out", out, "--overwrite", "--shard-size", "1MB") == 0
    assert sorted(p.name for p in (out / "data").iterdir()) == ["train-00000.parquet"]
    assert cli("verify", out) == 0


@pytest.mark.parametrize("files", [
    {"notes.txt": "mine"},
    {"data/notes.txt": "mine", "webdataset/train-00000.tar": "not ours"},
    {"manifest.json": '{"name": "my-web-app"}', "data/notes.txt": "mine"},
    {"manifest.json": "not json", "data/notes.txt": "mine"},
])
def test_overwrite_refuses_a_folder_that_holds_no_release(ws, tmp_path, capsys, files):
    out = tmp_path / "project"
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    for flags in ([], ["--overwrite"]):
        assert cli(ws.root, "--out", out, *flags) == 2
        err = capsys.readouterr().err
        assert str(out) in err and len(err.strip().splitlines()) == 1
        assert ("not a gristmill release manifest" if "manifest.json" in files else "holds no gristmill release") in err
    assert {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()} == files


@pytest.mark.parametrize("argv, message", [
    (["{ws}"], "--out DIR is required"),
    (["diff", "a"], "unexpected arguments"),
    (["verify", "a", "b"], "unexpected arguments"),
    (["verify", "{tmp}", "--out", "x"], "--out is for exporting"),
    (["{ws}", "--out", "{tmp}/o", "--split", "../x=0.1"], "bad split"),
    (["{ws}", "--out", "{tmp}/o", "--split", "val=1.5"], "between 0 and 1"),
    (["{ws}", "--out", "{tmp}/o", "--shard-size", "lots"], "not a size"),
    (["{tmp}", "--out", "{tmp}/o"], "not a gristmill workspace"),
])
def test_bad_input_is_a_clear_error(ws, tmp_path, capsys, argv, message):
    assert cli(*[a.format(ws=ws.root, tmp=tmp_path) for a in argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../escape.parquet", "/etc/passwd", "data/../../x", ".", ""])
def test_output_names_cannot_escape_the_release(tmp_path, name):
    with pytest.raises(GristmillError, match="outside the release"):
        inside(tmp_path, name)
    assert inside(tmp_path, "data/train-00000.parquet") == tmp_path.resolve() / "data" / "train-00000.parquet"


def test_help_shows_the_three_forms(capsys):
    with pytest.raises(SystemExit):
        cli("--help")
    out = capsys.readouterr().out
    assert "gristmill export verify DIR" in out and "gristmill export diff A B" in out
    assert "verify" in COMMANDS["export"]


def test_command_module_imports_only_the_standard_library():
    """`gristmill export --help` imports only this module: it must not pull in Arrow, DuckDB, rich, …

    The bare `curation` package (it holds only `__version__`) loads with `gristmill`; none of its modules may."""
    code = ("import sys; import gristmill.commands.export; "
            "print(sorted({m.split('.')[0] for m in sys.modules if m != 'curation'} & "
            "{'pyarrow', 'duckdb', 'rich', 'pydantic', 'numpy', 'curation', 'pipelines', 'schemas'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    assert out.strip() == "[]"
