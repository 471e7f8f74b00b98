"""The Engine: train the quality model from human decisions, route samples, audit, report the stage.

    engine = Engine("ws/")            # settings from ws/engine/config.yaml, or EngineConfig defaults
    engine.train()                    # new model version from review_state, then a routing run
    engine.queue(50)                  # what humans review next: audits, then flagged + random checks
    engine.maybe_retrain()            # trains when `retrain_every` new human decisions arrived
    engine.status()                   # stage, quality, thresholds, queues, human decisions per 1,000
Human decisions always win: a sample a human decided is never routed, and `kept()` takes the human
decision over any automatic one.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sklearn

from curation import __version__
from curation.catalog import Catalog
from curation.engine import audit, model, routing, stages, store
from curation.engine.config import EngineConfig, EngineError, load_config
from curation.engine.features import FeatureSpec, Samples, load_samples
from curation.engine.thresholds import Side, Thresholds, choose
from curation.workspace import Workspace
from schemas import DECISIONS, conform

ENGINE_REASON = "engine:reject"


@dataclass
class QueueItem:
    """One sample to show a reviewer: why (`audit`, `flagged`, `calibration` or `cold_start`), the model's
    probability of acceptance and its suggestion ('accept'|'reject': the automatic decision for an audit,
    the likelier outcome otherwise; None without a model)."""

    sample_id: str
    kind: str
    p: float | None
    suggestion: str | None


@dataclass
class RouteReport:
    """What one routing run decided."""

    run: str
    version: str
    stage: str
    counts: dict[str, int]
    audits: audit.Agreement
    decisions_path: Path


@dataclass
class TrainReport:
    """A trained model version, its held-out quality and thresholds, and the routing run that followed."""

    version: str
    quality: model.Quality
    thresholds: Thresholds
    route: RouteReport


def _now_us() -> int:
    return time.time_ns() // 1000


class Engine:
    """The data-engine loop over one workspace."""

    def __init__(self, workspace: Workspace | str | Path, config: EngineConfig | None = None):
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.open(Path(workspace))
        self.config = config or load_config(self.workspace)
        self._samples: Samples | None = None
        self._loaded: tuple[str, FeatureSpec, model.QualityModel, dict] | None = None

    # -- inputs ------------------------------------------------------------------------------------
    def samples(self) -> Samples:
        """The samples the engine works on (read from the catalog once per Engine; `refresh` re-reads)."""
        if self._samples is None:
            catalog = Catalog(self.workspace)
            try:
                self._samples = load_samples(catalog, self.config)
            finally:
                catalog.close()
        return self._samples

    def refresh(self) -> None:
        """Forget cached samples and model (after new scores or embeddings)."""
        self._samples, self._loaded = None, None

    def human_decisions(self) -> pa.Table:
        """Current human decisions: sample_id, decision ('accept'|'reject'), decision_ts, sorted by sample_id."""
        catalog = Catalog(self.workspace)
        try:
            return catalog.query("SELECT sample_id, decision, decision_ts FROM review_state "
                                 "WHERE decision IS NOT NULL ORDER BY sample_id")
        finally:
            catalog.close()

    def caption_edits(self, runs: list[tuple[int, str]]) -> dict[str, dict]:
        """Human caption edits per 1,000 reviewed samples, per stage (`stages.caption_edits`), counted in DuckDB:
        each live (not undone) human event is attributed to the latest of `runs` (routed_at µs, stage) at or
        before it."""
        catalog = Catalog(self.workspace)
        try:
            catalog.con.register("_routing_runs", pa.table({"start_us": pa.array([at for at, _ in runs], pa.int64()),
                                                            "stage": pa.array([st for _, st in runs], pa.string())}))
            counted = catalog.query(f"""
                WITH live AS (SELECT sample_id, action, epoch_us(ts) AS ts FROM reviews
                              WHERE action <> 'undo' AND event_id NOT IN
                                  (SELECT undo_of FROM reviews WHERE action = 'undo' AND undo_of IS NOT NULL)),
                staged AS (SELECT coalesce(r.stage, '{stages.MANUAL}') AS stage, l.sample_id, l.action
                           FROM live AS l ASOF LEFT JOIN _routing_runs AS r ON l.ts >= r.start_us)
                SELECT stage, count(*) FILTER (WHERE action = 'edit_caption') AS edits,
                       count(DISTINCT sample_id) AS reviewed
                FROM staged GROUP BY stage""").to_pylist()
        finally:
            catalog.close()
        return stages.caption_edits(counted)

    def _rows(self, ids: pa.ChunkedArray | list) -> np.ndarray:
        """Row numbers in `samples()` of sample ids (ids the engine has no features for are dropped)."""
        all_ids = self.samples().ids
        wanted = np.asarray(ids.to_pylist() if hasattr(ids, "to_pylist") else ids, dtype=object)
        at = np.searchsorted(all_ids, wanted)
        at = np.minimum(at, len(all_ids) - 1)
        return at[all_ids[at] == wanted]

    # -- training ----------------------------------------------------------------------------------
    def _training_set(self) -> tuple[np.ndarray, np.ndarray, str | None]:
        """Rows and labels (True: accept) of the human decisions, and why they cannot train yet (or None)."""
        cfg = self.config
        human = self.human_decisions()
        rows = self._rows(human["sample_id"])
        decided = dict(zip(human["sample_id"].to_pylist(), human["decision"].to_pylist()))
        labels = np.asarray([decided[s] == "accept" for s in self.samples().ids[rows]], dtype=bool)
        n_accept, n_reject = int(labels.sum()), int((~labels).sum())
        if len(rows) < cfg.min_decisions or min(n_accept, n_reject) < cfg.cv_folds:
            return rows, labels, (f"{len(rows)} human decisions ({n_accept} accepts, {n_reject} rejects) on samples "
                                  f"with embeddings; training needs {cfg.min_decisions}, with at least "
                                  f"{cfg.cv_folds} of each")
        return rows, labels, None

    def train(self) -> TrainReport:
        """Fit a new model version on every human decision, choose thresholds, save it, and route."""
        cfg = self.config
        samples = self.samples()
        rows, labels, missing = self._training_set()
        if missing:
            raise EngineError(missing)
        spec = FeatureSpec.fit(samples, cfg.embedding_components, cfg.seed)
        features = spec.transform(samples)
        settings = model.TreeSettings(cfg.trees, cfg.learning_rate, cfg.min_leaf, cfg.l2_regularization)
        fitted, heldout_p = model.fit(features[rows], labels, cfg.cv_folds, settings, cfg.seed)
        quality = model.quality(labels, heldout_p)
        undecided = np.ones(len(samples.ids), dtype=bool)
        undecided[rows] = False
        thresholds = choose(heldout_p, labels, fitted.predict(features[undecided]), cfg.target_precision,
                            cfg.min_support, cfg.confidence)
        arrays = dict(spec.arrays(), calibration=np.array([fitted.platt_slope, fitted.platt_intercept]))
        digest = _training_digest(arrays, samples.ids[rows], labels, cfg)
        meta = {"trained_at_us": _now_us(), "hash": digest, "n_decisions": len(rows), "quality": asdict(quality),
                "thresholds": asdict(thresholds), "config": cfg.model_dump(), "features": spec.names(),
                "score_columns": spec.score_names, "embedding_model": samples.embedding_model,
                "sklearn": sklearn.__version__}
        heldout = pa.table({"sample_id": pa.array(samples.ids[rows], pa.string()), "label": labels,
                            "p": heldout_p})
        version = store.save_model(self.workspace, fitted.save, arrays, meta, heldout)
        return TrainReport(version, quality, thresholds, self.route())

    def maybe_retrain(self) -> TrainReport | None:
        """Train when `retrain_every` human decisions arrived since the current model (or there is none and
        enough decisions exist); otherwise None."""
        version = store.current_version(self.workspace)
        if version is None:
            return None if self._training_set()[2] else self.train()
        trained_on = self._model(version)[3]["n_decisions"]
        return self.train() if len(self._training_set()[0]) - trained_on >= self.config.retrain_every else None

    def _model(self, version: str) -> tuple[str, FeatureSpec, model.QualityModel, dict]:
        if self._loaded is None or self._loaded[0] != version:
            trees, arrays, meta = store.load_model(self.workspace, version)
            slope, intercept = arrays["calibration"]
            fitted = model.QualityModel.load(trees, float(slope), float(intercept))
            self._loaded = (version, FeatureSpec.from_arrays(arrays, meta["score_columns"]), fitted, meta)
        return self._loaded

    def probabilities(self) -> tuple[str, np.ndarray] | None:
        """The current model version and its probability of acceptance for every sample, or None untrained."""
        version = store.current_version(self.workspace)
        if version is None:
            return None
        _, spec, fitted, _ = self._model(version)
        return version, fitted.predict(spec.transform(self.samples()))

    # -- routing -----------------------------------------------------------------------------------
    def audits(self, human: pa.Table | None = None) -> audit.Agreement:
        """Human agreement with the current model version's audited automatic decisions, and whether the
        stop rule fired (each new version is judged afresh on its own audits)."""
        human = self.human_decisions() if human is None else human
        version = store.current_version(self.workspace)
        files = [f for f in store.route_files(self.workspace)
                 if version is not None and store.route_version(self.workspace, f.stem) == version]
        resumed = store.last_resume_us(self.workspace)
        return audit.agreement(files, human, resumed, self.config, self._on_probation(version, resumed))

    def _on_probation(self, version: str | None, resumed_us: int) -> bool:
        """A retrained version (not the first) that no operator resumed since it was trained."""
        if version is None or version == store.versions(self.workspace)[0]:
            return False
        return resumed_us < self._model(version)[3]["trained_at_us"]

    def route(self) -> RouteReport:
        """Route every undecided sample with the current model into a new run; write its automatic decisions."""
        predicted = self.probabilities()
        if predicted is None:
            raise EngineError("no engine model yet: `gristmill engine train` first")
        version, p = predicted
        meta = self._model(version)[3]
        thresholds = _thresholds(meta["thresholds"])
        samples = self.samples()
        human = self.human_decisions()
        undecided = np.ones(len(samples.ids), dtype=bool)
        undecided[self._rows(human["sample_id"])] = False
        agreement = self.audits(human)
        usable = bool(thresholds.accept or thresholds.reject)
        mode = (routing.MANUAL if agreement.stopped else routing.SHADOW if agreement.waiting
                else routing.AUTOMATIC)
        routed_at = _now_us()
        table = routing.route(samples.ids[undecided], p[undecided], thresholds, mode,
                              self.config.audit_fraction, version, routed_at)
        counts = {r: int(pc.sum(pc.equal(table["route"], r)).as_py() or 0)
                  for r in (routing.ACCEPT, routing.REJECT, routing.FLAG)}
        counts["audit"] = int(pc.sum(table["audit"]).as_py() or 0)
        stage = stages.stage(usable and mode == routing.AUTOMATIC, counts[routing.FLAG], table.num_rows,
                             self.config.full_auto_max_flagged)
        n_human = human.num_rows
        summary = {"version": version, "routed_at_us": routed_at, "stage": stage, "counts": counts,
                   "n_human": n_human, "n_curated": n_human + counts[routing.ACCEPT] + counts[routing.REJECT],
                   "audits": asdict(agreement)}
        run = store.save_route(self.workspace, table, summary)
        path = store.save_decisions(self.workspace, _decisions(table, meta, run), version, run)
        return RouteReport(run, version, stage, counts, agreement, path)

    def resume(self, note: str = "") -> None:
        """Resume automatic decisions after an audit stop: audits before now no longer count."""
        store.save_resume(self.workspace, _now_us(), note)

    # -- reading the current state -----------------------------------------------------------------
    def latest_route(self) -> pa.Table | None:
        """The latest routing run's rows, or None before the first run."""
        files = store.route_files(self.workspace)
        return store.read_route(self.workspace, files[-1].stem) if files else None

    def kept(self) -> set[str]:
        """Samples curated as kept now: human accepts, plus automatic accepts of the latest run that no
        human has decided (human decisions win)."""
        human = self.human_decisions()
        ids = human["sample_id"].to_pylist()
        kept = {s for s, d in zip(ids, human["decision"].to_pylist()) if d == "accept"}
        latest = self.latest_route()
        if latest is not None:
            auto = latest.filter(pc.equal(latest["route"], routing.ACCEPT))["sample_id"].to_pylist()
            decided = set(ids)
            kept.update(s for s in auto if s not in decided)
        return kept

    def queue(self, k: int) -> list[QueueItem]:
        """The next k samples for humans: pending audits first, then flagged samples by uncertainty with
        diversity, interleaved with a `calibration_share` of undecided samples drawn at random within the
        probability bins that human decisions cover least (the held-out decisions that thresholds are
        estimated on must cover the confident ranges too; routing.calibration_draw); before any routing
        run, a diverse sample of undecided samples (cold start). Fewer than k when few are flagged."""
        samples = self.samples()
        human = self.human_decisions()
        undecided = np.ones(len(samples.ids), dtype=bool)
        undecided[self._rows(human["sample_id"])] = False
        latest = self.latest_route()
        predicted = self.probabilities()
        if latest is None or predicted is None:
            rng = np.random.default_rng(self.config.seed + human.num_rows)
            pool = np.flatnonzero(undecided)
            pool = rng.choice(pool, min(len(pool), self.config.uncertain_pool * k), replace=False)
            picked = routing.review_batch(pool, rng.random(len(pool)), samples.embeddings[pool], k, 1)
            return [QueueItem(s, "cold_start", None, None) for s in samples.ids[picked]]
        _, p = predicted
        rows = self._rows(latest["sample_id"])
        routes = np.asarray(latest["route"].to_pylist(), dtype=object)
        audits = np.asarray(latest["audit"].to_pylist(), dtype=bool)
        open_rows = undecided[rows]
        pending = np.flatnonzero(audits & open_rows)[:k]
        proposed = np.asarray(latest["proposed"].to_pylist(), dtype=object) if "proposed" in latest.column_names \
            else routes
        items = [QueueItem(samples.ids[rows[i]], "audit", float(p[rows[i]]), proposed[i]) for i in pending]
        flagged = rows[(routes == routing.FLAG) & open_rows & ~audits]  # shadow audits are flagged too
        slots = k - len(items)
        if slots <= 0 or not len(flagged):
            return items
        share = self.config.calibration_share
        spec = self._model(store.current_version(self.workspace))[1]
        uncertainty = -np.abs(p[flagged] - 0.5)
        calibration = int(slots * share)
        picked = routing.review_batch(flagged, uncertainty, spec.embed(samples.embeddings[flagged]),
                                      slots - calibration, self.config.uncertain_pool)
        calibration = min(calibration, round(len(picked) * share / (1 - share)))  # few flagged: fewer draws
        pool = np.setdiff1d(np.flatnonzero(undecided), np.concatenate([picked, rows[pending]]))
        rng = np.random.default_rng(self.config.seed + human.num_rows)
        drawn = pool[routing.calibration_draw(p[pool], p[~undecided], calibration, rng)]

        def item(row: int, kind: str) -> QueueItem:
            return QueueItem(samples.ids[row], kind, float(p[row]), "accept" if p[row] >= 0.5 else "reject")

        return items + routing.interleave([item(r, "flagged") for r in picked],
                                          [item(r, "calibration") for r in drawn])

    def status(self) -> dict:
        """Stage, model quality, thresholds, queue sizes, audits, human decisions per 1,000 curated and human
        caption edits per 1,000 reviewed samples (per stage)."""
        version = store.current_version(self.workspace)
        human = self.human_decisions()
        runs = store.route_runs(self.workspace)
        latest = self.latest_route()
        decided = set(human["sample_id"].to_pylist())
        queues = {"flagged": 0, "audit": 0, "auto_accept": 0, "auto_reject": 0}
        if latest is not None:
            for sid, r, a in zip(latest["sample_id"].to_pylist(), latest["route"].to_pylist(),
                                 latest["audit"].to_pylist()):
                if sid in decided:
                    continue
                queues["flagged" if r == routing.FLAG else f"auto_{r}"] += 1
                queues["audit"] += bool(a)
        agreement = self.audits(human)
        n_auto = queues["auto_accept"] + queues["auto_reject"]
        now = {"at": _now_us(), "stage": runs[-1]["stage"] if runs else stages.MANUAL,
               "n_human": human.num_rows, "n_curated": human.num_rows + n_auto}
        snapshots = [{"at": r["routed_at_us"], "stage": r["stage"], "n_human": r["n_human"],
                      "n_curated": r["n_curated"]} for r in runs] + [now]
        meta = self._model(version)[3] if version else None
        return {
            "workspace": str(self.workspace.root),
            "stage": stages.MANUAL if agreement.stopped or agreement.waiting else now["stage"],
            "model": None if meta is None else {"version": version, "n_decisions": meta["n_decisions"],
                                                "quality": meta["quality"], "trained_at_us": meta["trained_at_us"],
                                                "decisions_since": human.num_rows - meta["n_decisions"]},
            "thresholds": None if meta is None else meta["thresholds"],
            "target_precision": self.config.target_precision,
            "human_decisions": human.num_rows,
            "queues": queues,
            "audits": asdict(agreement),
            "automatic": (bool(runs) and not (agreement.stopped or agreement.waiting)
                          and now["stage"] != stages.MANUAL),
            "human_per_1000_curated": stages.per_thousand(now["n_human"], now["n_curated"]),
            "history": stages.history(snapshots),
            "caption_edits": self.caption_edits([(r["routed_at_us"], r["stage"]) for r in runs]),
        }


def _training_digest(arrays: dict[str, np.ndarray], ids: np.ndarray, labels: np.ndarray, cfg: EngineConfig) -> str:
    """Identity of a model version: what it was trained on and how (training is deterministic for a given
    scikit-learn version, which the digest includes)."""
    h = hashlib.sha256(json.dumps([cfg.model_dump(), sklearn.__version__], sort_keys=True).encode())
    for a in arrays.values():
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("\n".join(ids.tolist()).encode())
    h.update(np.packbits(labels).tobytes())
    return h.hexdigest()


def _thresholds(saved: dict) -> Thresholds:
    side = lambda d: None if d is None else Side(**d)  # noqa: E731
    return Thresholds(side(saved["accept"]), side(saved["reject"]), saved["target"])


def _decisions(table: pa.Table, meta: dict, run: str) -> pa.Table:
    """DECISIONS rows (source 'engine') of a routing run's automatic decisions."""
    auto = table.filter(pc.not_equal(table["route"], routing.FLAG))
    kept = pc.equal(auto["route"], routing.ACCEPT)
    n = auto.num_rows
    versions = json.dumps({"gristmill": __version__, "engine_model": meta["version"], "route_run": run,
                           "embedding_model": meta["embedding_model"], "score_columns": meta["score_columns"]},
                          sort_keys=True)
    reason = pc.if_else(kept, pa.scalar(None, pa.string()), pa.scalar(ENGINE_REASON))
    reasons = [[] if k else [ENGINE_REASON] for k in kept.to_pylist()]
    return conform(pa.table({
        "sample_id": auto["sample_id"], "kept": kept, "reason": reason,
        "reasons": pa.array(reasons, pa.list_(pa.string())), "duplicate_of": pa.nulls(n, pa.string()),
        "source": pa.array(["engine"] * n, pa.string()),
        "recipe_name": pa.array([f"engine-{meta['version']}"] * n, pa.string()),
        "recipe_hash": pa.array([meta["hash"]] * n, pa.string()),
        "versions": pa.array([versions] * n, pa.string())}), DECISIONS, "engine decisions")
