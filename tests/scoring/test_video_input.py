"""Videos in a scoring job: bad ones get the decoder's stable reason, the batch's other samples are scored."""
import pyarrow.parquet as pq

from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from tests.scoring.helpers import corpus_items, media_row, write_shards
from tests.video.media import audio_only, encode, encode_without_frame_count, textured


def test_each_video_gets_a_score_or_its_reason_and_the_batch_is_scored(corpus, tmp_path):
    image = corpus_items(corpus)[0]
    videos = {
        "fragmented": encode_without_frame_count(textured(36, shift=1), "mp4"),
        "webm": encode_without_frame_count(textured(36, shift=1), "webm"),
        "portrait": encode(textured(12, shift=1), rotation=-90),
        "audio": audio_only(),
        "cut": encode(textured(24, shift=1), faststart=True)[:-1500],
    }
    items = [image] + [(media_row(f"http://x/{name}.mp4", f"a {name} video", "video"), data, "mp4")
                       for name, data in videos.items()]
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, items, shard_size=10)
    report = score(ws, ScoreConfig(scorers=["basic", "text"], num_workers=0, batch_size=6))
    assert report.scorers[0].error_kinds == {"audio_only": 1, "truncated": 1}
    rows = pq.read_table(ws.path("scores", "basic", "00000.parquet")).to_pylist()
    got = {name: row for name, row in zip(["image", *videos], rows)}
    assert got["image"]["error"] is None and got["image"]["width"] > 0
    assert [(got[n]["width"], got[n]["height"], got[n]["error"]) for n in ("fragmented", "webm", "portrait")] == [
        (160, 96, None), (160, 96, None), (96, 160, None)]  # the portrait video as a player shows it
    assert got["audio"]["error"].startswith("audio_only: ") and got["cut"]["error"].startswith("truncated: ")
    assert report.scorers[1].errors == 0  # text needs no frames
