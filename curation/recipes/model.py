"""Curation recipes: an ordered list of steps, parsed from YAML and validated before anything runs.

A recipe file looks like::

    name: laion-style
    description: CLIP >= 0.28 plus English, after exact and perceptual dedup
    models: {clip: ViT-B-32/openai}             # the model the 0.28 threshold was set on
    steps:
      - dedup: exact
      - dedup: perceptual                       # basic.phash, max_distance 6 (of 64 bits)
      - filter: {column: basic.is_blank, equals: false}
      - filter: {column: text.language, in: [en]}
      - caption: {min_words: 3, not_matches: '^(IMG|DSC)_\\d+'}
      - filter: {column: clip.clip_score, min: 0.28}
      - top_fraction: {column: clip.clip_score, fraction: 0.3, by: extra.source}

Step kinds (each step is a mapping with exactly one of these keys):
    filter        keep rows whose column passes min / max (inclusive) / equals / in / not_in / not_null
    caption       keep rows whose caption has min/max words or chars, matches / not_matches a regex (RE2)
    top_fraction  keep the best `fraction` of the rows still alive, globally or per `by` group
    top_k         keep the best `k` rows still alive, globally or per `by` group (per-source quotas)
    dedup         exact | perceptual | semantic; keeps representatives, best by `keep` first, and drops every
                  sample within the threshold of a kept one (decisions say which in `duplicate_of`)
Columns are `view.column` names from the catalog (`samples.width`, `clip.clip_score`), or `extra.<key>`
for a key of the input list's carried columns. Every step may set `name` to change its reason string.

Top-level keys: `name` (a file loaded without one is named after its stem), `description`, `sources`,
`versions`, `models` and `steps`.

Scorer versions. Every scorer view a recipe reads must hold scores of one (scorer_version, model_id): curate
refuses a view that mixes several (say, half the shards re-scored with another model), listing each with
its row count, rather than judging the two kinds of score by one threshold. `versions` picks the rows to
read instead, per view, by `scorer_version`, `model_id` or both::

    versions:
      clip: {model_id: ViT-B-32/openai, scorer_version: "1"}

A sample that has scores of other versions only then lacks the value (`missing:<column>`). A pick must match
rows of the view, and it is part of the recipe hash (it changes what is read).

Models of absolute thresholds. The scale of a model score (`MODEL_SCORES`) depends on the model that
computed it: DataComp's and LAION's CLIP thresholds (0.3, 0.28) are OpenAI ViT-B/32 cosines, and
LAION-trained weights such as gristmill's default `laion2b_s34b_b79k` score the same pairs differently. A
`filter` with a threshold (min, max, equals, in, not_in) on one must therefore declare the model it was set
on, spelled as the view's `model_id` column spells it (`<open_clip model>/<pretrained tag>`, e.g.
`ViT-B-32/openai`; a checkpoint file gives `<model>/<file name>@<sha256[:12]>`, random weights
`<model>/random-init-PLACEHOLDER`)::

    models:
      clip: ViT-B-32/openai

curate refuses a workspace whose scores of that view come from any other model. Rank-based steps
(top_fraction, top_k, a dedup `keep`) hold for any model and need no declaration. `models` only guards, so
it is not part of the hash.

This module checks the shape of a recipe (options, types, impossible thresholds); `compile.py` checks
its column names against a workspace's catalog.
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from curation.errors import GristmillError

# Known value ranges of score columns: a threshold outside them can never pass and is rejected.
VALUE_RANGES: dict[str, tuple[float, float]] = {
    "clip.clip_score": (-1.0, 1.0),
    "text.language_score": (0.0, 1.0),
    "text.repetition": (0.0, 1.0),
    "basic.luma_std": (0.0, 255.0),
    "basic.aspect_ratio": (0.0, math.inf),
    "basic.width": (0.0, math.inf),
    "basic.height": (0.0, math.inf),
    "samples.width": (0.0, math.inf),
    "samples.height": (0.0, math.inf),
    "samples.original_width": (0.0, math.inf),
    "samples.original_height": (0.0, math.inf),
}
MODEL_SCORES = frozenset({"clip.clip_score", "clip.clip_score_min"})
"""Score columns whose scale depends on the model that computed them: a threshold on one needs `models:`."""
INPUT_VIEWS = frozenset({"samples", "extra", "embeddings"})
"""The views a recipe reads that are not scorer views (`extra` is the `extra.<key>` prefix)."""
DEFAULT_PERCEPTUAL_DISTANCE = 6
"""Default Hamming threshold of perceptual dedup, in bits of the 64-bit pHash (imagehash.phash).

Measured on the synthetic corpus: re-encoding, resizing, brightness and small crops move a pHash by
0-6 bits (one crop 8), while the closest distinct images sit 8 bits apart and unrelated ones near 32.
6 keeps distinct images apart; any threshold up to 7 costs the same LSH work (see dedup.py)."""

Scalar = Union[bool, int, float, str]


class RecipeError(GristmillError):
    """A recipe that cannot run; the message lists every problem found, with the valid choices."""


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = Field(None, description="replaces the column part of this step's reason string")


class KeepBest(BaseModel):
    """Which member of a duplicate group survives: the best by `column` (ties: smallest sample_id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str
    order: Literal["desc", "asc"] = "desc"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"column": data} if isinstance(data, str) else data


class FilterStep(_Step):
    """Keep rows whose `column` passes every condition given; a null value drops with `missing:<column>`."""

    kind: Literal["filter"] = "filter"
    column: str
    min: float | None = None
    max: float | None = None
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    not_in: list[Scalar] | None = None
    not_null: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> "FilterStep":
        if all(v is None for v in (self.min, self.max, self.equals, self.in_, self.not_in, self.not_null)):
            raise ValueError("a filter needs at least one of min, max, equals, in, not_in, not_null")
        if self.not_null is False:
            raise ValueError("not_null: false keeps everything; leave it out instead")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}: nothing can pass")
        if self.equals is not None and (self.in_ is not None or self.not_in is not None):
            raise ValueError("use either equals or in/not_in, not both")
        if self.in_ is not None and not self.in_:
            raise ValueError("in: [] keeps nothing")
        if self.in_ is not None and self.not_in is not None and not set(self.in_) - set(self.not_in):
            raise ValueError("every value of in is also in not_in: nothing can pass")
        low, high = VALUE_RANGES.get(self.column, (-math.inf, math.inf))
        if self.min is not None and self.min > high:
            raise ValueError(f"min {self.min} is above the largest possible {self.column} ({high})")
        if self.max is not None and self.max < low:
            raise ValueError(f"max {self.max} is below the smallest possible {self.column} ({low})")
        return self

    @property
    def thresholded(self) -> bool:
        """True when the filter compares values (min, max, equals, in, not_in), not only not_null."""
        return any(v is not None for v in (self.min, self.max, self.equals, self.in_, self.not_in))

    @property
    def reason(self) -> str:
        return f"filter:{self.name or self.column}"


class CaptionStep(_Step):
    """Keep rows whose caption passes every rule given; words are runs of non-space characters."""

    kind: Literal["caption"] = "caption"
    column: str = "samples.caption"
    min_words: int | None = Field(None, ge=0)
    max_words: int | None = Field(None, ge=0)
    min_chars: int | None = Field(None, ge=0)
    max_chars: int | None = Field(None, ge=0)
    matches: str | None = Field(None, min_length=1, description="RE2 regex the caption must contain a match of")
    not_matches: str | None = Field(None, min_length=1, description="RE2 regex the caption must not match")

    @model_validator(mode="after")
    def _check(self) -> "CaptionStep":
        if not self.rules:
            raise ValueError("a caption step needs at least one of "
                             "min_words, max_words, min_chars, max_chars, matches, not_matches")
        for unit in ("words", "chars"):
            low, high = getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")
            if low is not None and high is not None and low > high:
                raise ValueError(f"min_{unit} {low} is above max_{unit} {high}: nothing can pass")
        return self

    @property
    def rules(self) -> list[str]:
        """The rule families present, in a fixed order: words, chars, matches, not_matches."""
        present = {
            "words": self.min_words is not None or self.max_words is not None,
            "chars": self.min_chars is not None or self.max_chars is not None,
            "matches": self.matches is not None,
            "not_matches": self.not_matches is not None,
        }
        return [rule for rule, on in present.items() if on]

    @property
    def reason(self) -> str:
        return f"caption:{self.name or '+'.join(self.rules)}"


class TopFractionStep(_Step):
    """Keep the best `fraction` (0-1] of the rows alive before this step, per `by` group when given."""

    kind: Literal["top_fraction"] = "top_fraction"
    column: str
    fraction: float = Field(gt=0, le=1)
    by: str | None = None
    order: Literal["desc", "asc"] = "desc"

    @property
    def reason(self) -> str:
        return f"top_fraction:{self.name or self.column}"


class TopKStep(_Step):
    """Keep the best `k` rows alive before this step, per `by` group when given (a per-source quota)."""

    kind: Literal["top_k"] = "top_k"
    column: str
    k: int = Field(ge=1)
    by: str | None = None
    order: Literal["desc", "asc"] = "desc"

    @property
    def reason(self) -> str:
        return f"top_k:{self.name or self.column}"


class DedupStep(_Step):
    """Common to every dedup method: each duplicate group keeps one member, the best by `keep`."""

    kind: Literal["dedup"] = "dedup"
    keep: KeepBest | None = None

    @property
    def reason(self) -> str:
        return f"dedup:{self.name or self.method}"


class ExactDedup(DedupStep):
    """Samples with the same payload hash are one group."""

    method: Literal["exact"] = "exact"
    column: str = "samples.sha256"


class PerceptualDedup(DedupStep):
    """Samples whose 64-bit perceptual hashes differ in at most `max_distance` bits are one group."""

    method: Literal["perceptual"] = "perceptual"
    column: str = "basic.phash"
    max_distance: int = Field(DEFAULT_PERCEPTUAL_DISTANCE, ge=0, le=31)


class SemanticDedup(DedupStep):
    """SemDeDup: samples whose image embeddings have cosine similarity >= `min_similarity` are one group."""

    method: Literal["semantic"] = "semantic"
    column: str = "embeddings.image_embedding"
    model: str | None = Field(None, description="embeddings model_id; optional when the workspace has one")
    min_similarity: float = Field(0.95, gt=0, le=1)
    clusters: int | None = Field(None, ge=1, description="k-means clusters; default sqrt(rows)")
    probes: int = Field(2, ge=1, le=8, description="clusters each sample is compared in (recall vs. time)")


Step = Union[FilterStep, CaptionStep, TopFractionStep, TopKStep, ExactDedup, PerceptualDedup, SemanticDedup]
_BODIES = {
    "filter": FilterStep,
    "caption": CaptionStep,
    "top_fraction": TopFractionStep,
    "top_k": TopKStep,
}
_DEDUP = {"exact": ExactDedup, "perceptual": PerceptualDedup, "semantic": SemanticDedup}
STEP_KINDS = (*_BODIES, "dedup")


class VersionPick(BaseModel):
    """The rows of a scorer view a recipe reads: those of this scorer_version and/or model_id."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scorer_version: str | None = None
    model_id: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "VersionPick":
        if self.scorer_version is None and self.model_id is None:
            raise ValueError("a versions entry needs scorer_version, model_id or both")
        return self

    def matches(self, scorer_version: str | None, model_id: str | None) -> bool:
        """True when a row of this scorer_version and model_id is one the pick reads."""
        return self.scorer_version in (None, scorer_version) and self.model_id in (None, model_id)


class Recipe(BaseModel):
    """A validated recipe. `hash` identifies its behaviour: its steps and version picks (see `hash`)."""

    model_config = ConfigDict(frozen=True)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    sources: list[str] = Field(default_factory=list, description="where the thresholds come from")
    versions: dict[str, VersionPick] = Field(default_factory=dict, description="per scorer view: the rows to read")
    models: dict[str, str] = Field(default_factory=dict,
                                   description="per scorer view: the model_id its thresholds were set on")
    steps: list[Step]

    @model_validator(mode="after")
    def _check_declarations(self) -> "Recipe":
        problems = _declaration_problems(self)
        if problems:
            raise ValueError("\n  - ".join(problems))
        return self

    @property
    def hash(self) -> str:
        """sha256 (hex) of the canonical JSON of the steps in order, every parameter and default included,
        and of the `versions` picks when there are any.

        It covers what decides which samples are kept and with which reasons (a step's `name` is part of
        its reason string; a pick decides which score rows are read), and nothing else: formatting,
        comments, `description` and `sources` do not count, nor does `models` (it only refuses a catalog
        scored by another model), nor the recipe `name`, which decides nothing (decisions record it as
        recipe_name and their file is named `<name>-<hash12>`). Over the same catalog and reviews, equal
        hashes give equal decisions.
        """
        fields = {"steps", "versions"} if self.versions else {"steps"}
        steps = self.model_dump(mode="json", by_alias=True, include=fields)
        canonical = json.dumps(steps, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def score_views(self) -> list[str]:
        """The scorer views the recipe reads (every view of its columns but INPUT_VIEWS), sorted."""
        return sorted({col.partition(".")[0] for col in self.columns()} - INPUT_VIEWS)

    def columns(self) -> list[str]:
        """Every column the recipe reads, in first-use order."""
        seen: dict[str, None] = {}
        for step in self.steps:
            for col in (getattr(step, "column", None), getattr(step, "by", None)):
                if col:
                    seen.setdefault(col, None)
            keep = getattr(step, "keep", None)
            if keep:
                seen.setdefault(keep.column, None)
        return list(seen)


def _declaration_problems(recipe: Recipe) -> list[str]:
    """What `versions` and `models` lack or contradict: entries for views no step reads, thresholds on a
    model score without the model they assume, a pick of one model beside a declaration of another."""
    read = recipe.score_views()
    problems = [f"{key}: no step reads view {view!r} (scorer views read: {', '.join(read) or 'none'})"
                for key, table in (("versions", recipe.versions), ("models", recipe.models))
                for view in table if view not in read]
    for i, step in enumerate(recipe.steps, 1):
        view = step.column.partition(".")[0]
        if isinstance(step, FilterStep) and step.thresholded and step.column in MODEL_SCORES \
                and view not in recipe.models:
            problems.append(f"step {i} ({step.reason}): a threshold on {step.column} holds only for the model it "
                            f"was set on; declare it as the {view} view's model_id spells it, e.g. "
                            f"models: {{{view}: ViT-B-32/openai}}, or rank with top_fraction/top_k instead")
    for view, model in recipe.models.items():
        pick = recipe.versions.get(view)
        if pick is not None and pick.model_id not in (None, model):
            problems.append(f"versions picks {view} rows of model {pick.model_id!r}, but models says its "
                            f"thresholds were set on {model!r}")
    return problems


TOP_LEVEL_KEYS = ("name", "description", "sources", "versions", "models", "steps")


def parse_recipe(raw: Any, origin: str = "recipe", name: str | None = None) -> Recipe:
    """Validate a recipe mapping (as loaded from YAML); raise RecipeError listing every problem.

    `name` is the recipe's name when the mapping has no `name` key (`load_recipe` passes the file's stem).
    """
    if not isinstance(raw, dict):
        raise RecipeError(f"{origin}: a recipe is a mapping with steps, got {type(raw).__name__}")
    if name is not None and "name" not in raw:
        raw = {"name": name, **raw}
    problems: list[str] = []
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        problems.append(f"unknown top-level key(s) {', '.join(unknown)}; valid: {', '.join(TOP_LEVEL_KEYS)}")
    raw_steps = raw.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.append("steps must be a non-empty list")
        raw_steps = []
    steps = []
    for i, raw_step in enumerate(raw_steps, 1):
        try:
            steps.append(_parse_step(raw_step))
        except RecipeError as exc:
            problems.append(f"step {i}: {exc}")
    reasons: dict[str, int] = {}
    for i, step in enumerate(steps, 1):
        if step.reason in reasons:
            problems.append(f"step {i}: reason {step.reason!r} is already used by step {reasons[step.reason]}; "
                            "give one of them a distinct name")
        reasons.setdefault(step.reason, i)
    try:
        recipe = Recipe.model_validate({k: v for k, v in raw.items() if k != "steps"} | {"steps": steps})
    except ValidationError as exc:
        problems.extend(_describe(exc, Recipe, skip=("steps",)))
        recipe = None
    if problems:
        raise RecipeError(f"{origin} is not a valid recipe:\n  - " + "\n  - ".join(problems))
    return recipe


def _parse_step(raw: Any) -> _Step:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise RecipeError(f"a step is a mapping with exactly one key, one of: {', '.join(STEP_KINDS)}; got {raw!r}")
    (kind, body), = raw.items()
    if kind not in STEP_KINDS:
        raise RecipeError(f"unknown step kind {kind!r}; valid kinds: {', '.join(STEP_KINDS)}")
    if kind == "dedup":
        body = {"method": body} if isinstance(body, str) else body
        method = body.get("method") if isinstance(body, dict) else None
        if method not in _DEDUP:
            raise RecipeError(f"dedup method {method!r} is unknown; valid methods: {', '.join(_DEDUP)}")
        model = _DEDUP[method]
    else:
        model = _BODIES[kind]
    if not isinstance(body, dict):
        raise RecipeError(f"{kind}: options must be a mapping, got {body!r}")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RecipeError(f"{kind}: " + "; ".join(_describe(exc, model))) from None


def _describe(exc: ValidationError, model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    """Turn pydantic errors into short sentences that name the option and the valid ones."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["loc"] and err["loc"][0] in skip:
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            owner = VersionPick if err["loc"][0] == "versions" and model is Recipe else model
            valid = ", ".join(f.alias or n for n, f in owner.model_fields.items() if n != "kind")
            out.append(f"unknown option {loc!r}; valid options: {valid}")
        elif err["type"] == "missing":
            out.append(f"missing required option {loc!r}")
        elif loc:
            out.append(f"{loc}: {msg} (got {err.get('input')!r})")
        else:
            out.append(msg)
    return out
