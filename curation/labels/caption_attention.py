"""Which samples' captions need a human: a calibrated model of "a human will change this caption".

Features per sample with a generated caption (view `caption`), all read from what is stored (no model runs):
the CLIP score of alt-text vs image (view `clip`, 0 and `has_clip` 0 when missing), the word agreement of
generated caption and alt-text (Jaccard of their lower-case word sets), both lengths in words (log1p), the
generated caption's n_tokens (log1p) and whether the length limit cut it.
Targets, from the review state: edited (1) when the final caption is a human's and differs from the
alt-text (an accepted generated caption counts), kept (0) when the sample carries the CAPTION_OK tag and
was not edited.
With at least MIN_EACH of both, `train` fits the probe's calibrated logistic regression
(curation.labels.probe, one binary class, out-of-fold Platt calibration) and saves it as a version of
MODEL_FIELD in the probe store (curation.labels.store). Before that, `rank` orders by the heuristic
1 - (min(clip_score / CLIP_GOOD, 1) + agreement) / 2: low alt-text CLIP score and low agreement first.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from curation.catalog import Catalog
from curation.labels import probe, store
from curation.labels.calibration import Calibration, expected_calibration_error
from curation.labels.vocabulary import LabelError

CAPTION_OK = "caption_ok"  # the tag a reviewer's "keep the alt-text" writes
MODEL_FIELD = "_captions"  # probe-store name of the model: not a valid vocabulary field name, so never a field's
MIN_EACH = 20              # edited and kept captions needed before a model is trained
FOLDS = 5
CLIP_GOOD = 0.35           # heuristic: an alt-text CLIP score at or above this counts as fully agreeing
FEATURES = ("clip_score", "has_clip", "agreement", "alt_words", "generated_words", "n_tokens", "truncated")

_WORDS = "list_distinct(list_filter(regexp_split_to_array(lower(coalesce({0}, '')), '[^a-z0-9]+'), lambda w: w <> ''))"
_FEATURES_SQL = f"""
SELECT sample_id, clip_score, agreement, alt_words, generated_words, n_tokens, truncated FROM (
  SELECT s.sample_id, c.clip_score, ln(1 + len(a)) AS alt_words, ln(1 + len(g)) AS generated_words,
         ln(1 + coalesce(g0.n_tokens, 0)) AS n_tokens, coalesce(g0.truncated, false) AS truncated,
         CASE WHEN len(list_distinct(list_concat(a, g))) = 0 THEN 0.0
              ELSE len(list_intersect(a, g)) / len(list_distinct(list_concat(a, g))) END AS agreement
  FROM (SELECT sample_id, caption, {_WORDS.format('caption')} AS a FROM samples WHERE status = 'success') s
  JOIN (SELECT sample_id, n_tokens, truncated, {_WORDS.format('generated_caption')} AS g FROM caption
        WHERE generated_caption IS NOT NULL QUALIFY row_number() OVER (PARTITION BY sample_id) = 1) g0
       USING (sample_id)
  LEFT JOIN ({{clip}}) c USING (sample_id))
"""
_TARGETS_SQL = f"""
SELECT sample_id, (r.final_caption IS NOT NULL AND r.final_caption IS DISTINCT FROM s.caption) AS edited
FROM review_state r JOIN samples s USING (sample_id)
WHERE (r.final_caption IS NOT NULL AND r.final_caption IS DISTINCT FROM s.caption)
   OR list_contains(r.tags, '{CAPTION_OK}')
"""


@dataclass
class Ranked:
    """Samples in the order they need a human caption, with p (the model's probability of an edit, or the
    heuristic score before there is a model) and what ordered them ('heuristic' or a model version)."""

    ids: list[str]
    p: np.ndarray
    by: str


def features(catalog: Catalog) -> tuple[list[str], np.ndarray]:
    """(sample ids, (n, len(FEATURES)) float matrix) of every successful sample with a generated caption."""
    if "caption" not in catalog.views():
        raise LabelError("no generated captions in this workspace: score with the caption scorer first")
    has_clip = "clip_score" in catalog.views().get("clip", [])
    clip = ("SELECT sample_id, clip_score FROM clip WHERE clip_score IS NOT NULL "
            "QUALIFY row_number() OVER (PARTITION BY sample_id) = 1") if has_clip else \
        "SELECT NULL::VARCHAR AS sample_id, NULL::DOUBLE AS clip_score WHERE false"
    table = catalog.query(_FEATURES_SQL.replace("{clip}", clip) + " ORDER BY sample_id")
    cols = {name: table[name].to_numpy(zero_copy_only=False).astype(float) for name in table.column_names[1:]}
    clip_score = cols.pop("clip_score")
    x = np.column_stack([np.nan_to_num(clip_score), ~np.isnan(clip_score), *cols.values()])
    return table["sample_id"].to_pylist(), x


def targets(catalog: Catalog) -> dict[str, bool]:
    """Human caption decisions so far: sample id -> edited (True) or kept as is (False)."""
    rows = catalog.query(_TARGETS_SQL).to_pylist()
    return {r["sample_id"]: r["edited"] for r in rows}


def heuristic(x: np.ndarray) -> np.ndarray:
    """The ranking score before a model: 1 - (min(clip / CLIP_GOOD, 1) + agreement) / 2, in [0, 1]."""
    clip = np.clip(x[:, 0] / CLIP_GOOD, 0.0, 1.0)
    return 1.0 - (clip + x[:, 2]) / 2.0


def train(catalog: Catalog, seed: int = 0) -> str:
    """Fit and save a new model version on the human caption decisions; return its version (LabelError when
    fewer than MIN_EACH of edited or kept captions)."""
    return _train(catalog, *features(catalog), targets(catalog), seed)


def maybe_train(catalog: Catalog) -> str | None:
    """Train a new version when enough decisions exist and some arrived since the current one; its version."""
    return _maybe_train(catalog, *features(catalog), targets(catalog))


def rank(catalog: Catalog, limit: int) -> Ranked:
    """Train a new model version if due (`maybe_train`), then the `limit` samples without a human caption
    decision most likely to need one, most likely first, by the current version (the heuristic when there is
    none). Features and decisions are read once for both."""
    ids, x = features(catalog)
    known = targets(catalog)
    _maybe_train(catalog, ids, x, known)
    version = store.current_version(catalog.workspace, MODEL_FIELD)
    if version is None:
        p, by = heuristic(x), "heuristic"
    else:
        models, meta = store.load(catalog.workspace, MODEL_FIELD, version)
        fitted = probe.Probe(True, models, 1, Calibration(**meta["calibration"]))
        p, by = (fitted.predict(x, 1)[:, 0] if len(x) else np.zeros(0)), version
    open_rows = np.array([i for i, sid in enumerate(ids) if sid not in known], dtype=int)
    best = open_rows[np.lexsort((open_rows, -p[open_rows]))][:limit] if len(open_rows) else open_rows
    return Ranked([ids[i] for i in best], p[best], by)


def _maybe_train(catalog: Catalog, ids: list[str], x: np.ndarray, known: dict[str, bool]) -> str | None:
    edited = sum(known.values())
    if min(edited, len(known) - edited) < MIN_EACH:
        return None
    current = store.current_version(catalog.workspace, MODEL_FIELD)
    if current and store.load_meta(catalog.workspace, MODEL_FIELD, current)["n_decisions"] == len(known):
        return None
    return _train(catalog, ids, x, known)


def _train(catalog: Catalog, ids: list[str], x: np.ndarray, known: dict[str, bool], seed: int = 0) -> str:
    rows = [i for i, sid in enumerate(ids) if sid in known]
    y = np.array([known[ids[i]] for i in rows], dtype=bool)
    if min(y.sum(), (~y).sum()) < MIN_EACH:
        raise LabelError(f"{int(y.sum())} edited and {int((~y).sum())} kept captions: a caption model needs "
                         f"{MIN_EACH} of each")
    fitted, oof = probe.fit(x[rows], y[:, None], multi=True, folds=FOLDS, seed=seed)
    held = oof[:, 0]
    meta = {"features": list(FEATURES), "n_edited": int(y.sum()), "n_kept": int((~y).sum()),
            "n_decisions": len(rows), "trained_at_us": time.time_ns() // 1000,
            "calibration": asdict(fitted.calibration), "folds": FOLDS, "seed": seed,
            "quality": {"ece": expected_calibration_error(np.maximum(held, 1 - held), (held >= 0.5) == y)}}
    heldout = pa.table({"sample_id": pa.array([ids[i] for i in rows], pa.string()),
                        "p": pa.array(held.astype(np.float32)), "truth": pa.array(y)})
    return store.save(catalog.workspace, MODEL_FIELD, fitted.models, meta, heldout)
