"""Human labels read back from the review log (latest wins, undo and clear respected), and the stored
proposals' schema and catalog view."""
import numpy as np

from curation.catalog import Catalog
from curation.labels.human import encode, read_labels
from curation.labels.proposals import ProposalMeta, table
from curation.labels.vocabulary import parse_vocabulary
from curation.reviews import ReviewLog
from curation.workspace import Workspace
from schemas import LABEL_PROPOSALS, PROPOSALS_VERSION
from tests.labels.conftest import ANIMALS

VOCABULARY = parse_vocabulary(ANIMALS, "test")


def test_latest_label_wins_and_undo_or_clear_remove_it(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    animal, tags = VOCABULARY.field("animal"), VOCABULARY.field("tags")
    log = ReviewLog(ws, "ana")
    log.label("s1", "animal", encode(animal, {"cat"}))
    log.label("s1", "animal", encode(animal, {"dog"}))
    undone = log.label("s2", "animal", encode(animal, {"bird"}))
    log.undo(undone["event_id"])
    log.label("s3", "animal", encode(animal, {"fish"}))
    log.label("s3", "animal", None)
    log.label("s4", "animal", encode(animal, set()))
    log.label("s5", "animal", "cow")  # a class the vocabulary does not have (any more)
    log.label("s1", "tags", encode(tags, {"sunny", "night"}))
    log.close()
    human = read_labels(Catalog(ws), animal)
    assert human.ids == ["s1", "s4"] and human.classes == [{"dog"}, frozenset()]
    assert human.unknown == {"cow": 1}
    assert human.indicator(animal.class_names).tolist() == [[False, True, False, False], [False] * 4]
    assert read_labels(Catalog(ws), tags).classes == [{"sunny", "night"}]


def test_proposal_rows_follow_the_versioned_schema(tmp_path):
    animal, tags = VOCABULARY.field("animal"), VOCABULARY.field("tags")
    meta = ProposalMeta(animal, "probe", "probe:animal/v0001@m", "v0001", False, 1_700_000_000_000_000,
                        [None, None, 0.8, 0.6])
    p = np.array([[0.1, 0.2, 0.65, 0.05], [0.0, 0.0, 0.1, 0.9], [0.05, 0.05, 0.85, 0.05]])
    rows = table(["a", "b", "c"], p, meta)
    assert rows.schema.equals(LABEL_PROPOSALS) and rows.schema.metadata[b"gristmill.label_proposals_version"] == \
        PROPOSALS_VERSION.encode()
    assert rows["proposal"].to_pylist() == [["bird"], ["fish"], ["bird"]]
    assert rows["automatic"].to_pylist() == [[], ["fish"], ["bird"]]
    assert rows["confidence"].to_pylist() == [0.65, 0.9, 0.85]
    multi = ProposalMeta(tags, "probe", "probe:tags/v0001@m", "v0001", False, 0, [0.9, None])
    rows = table(["a", "b"], np.array([[0.95, np.nan], [0.3, np.nan]]), multi)
    assert rows["proposal"].to_pylist() == [["sunny"], []] and rows["automatic"].to_pylist() == [["sunny"], []]
    assert rows["probabilities"].to_pylist()[1][1] is None
    assert np.allclose(rows["confidence"].to_numpy(), [0.95, 0.7])


def test_the_catalog_view_exists_before_any_proposal(tmp_path):
    catalog = Catalog(Workspace.init(tmp_path / "ws"))
    assert catalog.views()["label_proposals"] == LABEL_PROPOSALS.names
    assert catalog.query("SELECT count(*) AS n FROM label_proposals")["n"].to_pylist() == [0]
