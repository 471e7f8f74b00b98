"""`gristmill labels define|show|propose|train|report` on a small corpus, through the real CLI entry point."""
import json

from gristmill.cli import main
from tests.labels.conftest import ANIMALS, build, label


def test_define_propose_train_report(tmp_path, animal_field, model_id, tiny_checkpoint, capsys):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=400, noise=0.05)
    ws = str(corpus.workspace.root)
    vocab = tmp_path / "vocab.yaml"
    vocab.write_text(ANIMALS.replace("kind: multi", "kind: multi\n    background_prompts: [a picture]"))
    assert main(["labels", "define", ws, str(vocab)]) == 0
    assert "animal (single, 4 classes), tags (multi, 2 classes)" in capsys.readouterr().out
    assert main(["labels", "show", ws]) == 0
    assert "a cat sitting" in capsys.readouterr().out
    assert main(["labels", "propose", ws, "animal", "--pretrained", str(tiny_checkpoint[1])]) == 0
    out = capsys.readouterr().out
    assert "zeroshot proposals for animal: 400 samples, uncalibrated" in out and "PLACEHOLDER" not in out
    label(corpus, range(200))
    assert main(["labels", "train", ws, "animal"]) == 0
    out = capsys.readouterr().out
    assert "trained probe animal/v0001 on 200 human labels" in out and "automatic:" in out
    assert main(["labels", "propose", ws, "animal", "--source", "probe"]) == 0
    assert "probe proposals for animal: 400 samples" in capsys.readouterr().out
    assert main(["labels", "report", ws, "--json"]) == 0
    fields = {f["field"]: f for f in json.loads(capsys.readouterr().out)["fields"]}
    assert fields["animal"]["human_labels"] == 200 and fields["animal"]["probe_version"]["version"] == "v0001"
    assert fields["tags"]["zeroshot"] is None
    assert main(["labels", "report", ws]) == 0
    assert "v0001" in capsys.readouterr().out


def test_bad_input_exits_2_with_the_reason(tmp_path, animal_field, model_id, tiny_checkpoint, capsys):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=20)
    ws = str(corpus.workspace.root)
    vocab = tmp_path / "vocab.yaml"
    vocab.write_text(ANIMALS.replace("name: dog", "name: cat"))
    assert main(["labels", "define", ws, str(vocab)]) == 2
    assert "field 'animal': duplicate class 'cat'" in capsys.readouterr().err
    assert main(["labels", "train", ws, "nope"]) == 2
    assert "no label field 'nope'; declared: animal, tags" in capsys.readouterr().err
    assert main(["labels", "propose", ws, "animal", "--source", "probe"]) == 2
    assert "has no probe yet" in capsys.readouterr().err
