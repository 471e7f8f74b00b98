"""Label vocabularies: the label fields a workspace declares in `labels/vocabulary.yaml`.

    fields:
      - name: scene
        kind: single                  # single: one class per sample; multi: any set of classes
        classes:
          - name: indoor
            description: taken inside a building
            prompts: ["a photo taken indoors", "a photo of a room"]
          - name: outdoor
            prompts: ["a photo taken outdoors"]
    target_precision: 0.95            # what automatic labels must reach (lower confidence bound)
    confidence: 0.95                  # level of that bound; more settings: see Vocabulary

Fields and classes are lists, so a duplicate name is an error instead of silently replacing the first.
A class's CLIP prompts are the texts its zero-shot embedding is the mean of. A multi-label field also has
`background_prompts` (default "a photo"): a class's zero-shot probability is the softmax of its prompts
against those. Every error names the field and class it is about.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curation.atomic import write_bytes
from curation.errors import GristmillError
from curation.workspace import Workspace

LABELS = "labels"
VOCABULARY_NAME = "vocabulary.yaml"
NAME_RE = r"[a-z0-9][a-z0-9_-]{0,63}"
DEFAULT_BACKGROUND = ("a photo",)


class LabelError(GristmillError):
    """A label vocabulary, label value or label run that cannot be used; the message says why."""


def _texts(texts: list[str], what: str) -> list[str]:
    cleaned = [t.strip() for t in texts]
    if not cleaned or not all(cleaned):
        raise ValueError(f"{what} must be a non-empty list of non-empty texts")
    return cleaned


class LabelClass(BaseModel):
    """One class of a label field."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=f"^{NAME_RE}$", description="lower-case word: a-z, 0-9, _ and -")
    description: str | None = None
    prompts: list[str] = Field(description="CLIP prompt texts; the class embedding is their mean")

    @field_validator("prompts")
    @classmethod
    def _prompts(cls, prompts: list[str]) -> list[str]:
        return _texts(prompts, "prompts")


class LabelField(BaseModel):
    """A label field: single-label (one class per sample) or multi-label (any set of classes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=f"^{NAME_RE}$")
    kind: Literal["single", "multi"]
    classes: list[LabelClass] = Field(min_length=1)
    background_prompts: list[str] | None = Field(None, description="multi-label only; default ['a photo']")

    @field_validator("background_prompts")
    @classmethod
    def _background(cls, prompts: list[str] | None) -> list[str] | None:
        return None if prompts is None else _texts(prompts, "background_prompts")

    @model_validator(mode="after")
    def _consistent(self) -> "LabelField":
        names = [c.name for c in self.classes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate class {', '.join(map(repr, duplicates))}")
        if self.kind == "single" and len(self.classes) < 2:
            raise ValueError("a single-label field needs at least two classes (use kind: multi for one class)")
        if self.kind == "single" and self.background_prompts is not None:
            raise ValueError("background_prompts applies to multi-label fields only")
        return self

    @property
    def multi(self) -> bool:
        return self.kind == "multi"

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def background(self) -> list[str]:
        """The prompts a multi-label class is weighed against."""
        return list(self.background_prompts or DEFAULT_BACKGROUND)

    def digest(self) -> str:
        """sha256[:12] of the field's canonical JSON: proposals and probes record which version they used."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()[:12]


class Vocabulary(BaseModel):
    """Every label field of a workspace, and the precision automatic labels must reach."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fields: list[LabelField] = Field(default_factory=list)
    target_precision: float = Field(0.95, gt=0.5, lt=1.0, description=(
        "precision an automatic label must reach: the lower end of its confidence interval on held-out labels"))
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="level of the Wilson confidence intervals")
    min_support: int = Field(30, ge=5, description="held-out human labels a class's threshold must rest on")
    min_labels: int = Field(20, ge=2, description="human labels of the field a probe needs to train")
    cv_folds: int = Field(5, ge=2, description="folds of the probe's cross-validation")
    audit_fraction: float = Field(0.02, ge=0, le=1, description="share of automatically labelled samples audited")
    min_audits: int = Field(30, ge=1, description="audited labels needed before the stop rule can fire")

    @model_validator(mode="after")
    def _unique_fields(self) -> "Vocabulary":
        names = [f.name for f in self.fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate field {', '.join(map(repr, duplicates))}")
        return self

    def field(self, name: str) -> LabelField:
        """The field called `name`, or a LabelError listing the declared ones."""
        for f in self.fields:
            if f.name == name:
                return f
        raise LabelError(f"no label field {name!r}; declared: {', '.join(f.name for f in self.fields) or 'none'}")


SINGULAR = {"fields": "field", "classes": "class"}


def _where(raw, loc: tuple) -> str:
    """A pydantic error location in words, items by name: "field 'scene', class 'indoor', key 'prompts'"."""
    parts, node, i = [], raw, 0
    while i < len(loc):
        key = loc[i]
        node = node.get(key) if isinstance(node, dict) else None
        if i + 1 < len(loc) and isinstance(loc[i + 1], int):
            index = loc[i + 1]
            node = node[index] if isinstance(node, list) and index < len(node) else None
            name = node.get("name") if isinstance(node, dict) else None
            noun = SINGULAR.get(key, key)
            parts.append(f"{noun} {name!r}" if isinstance(name, str) else f"{noun} #{index + 1}")
            i += 2
        else:
            parts.append(f"key {key!r}")
            i += 1
    return ", ".join(parts) or "top level"


def _message(raw, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            lines.append(f"{_where(raw, loc[:-1])}: unknown key {loc[-1]!r}")
        else:
            lines.append(f"{_where(raw, loc)}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def parse_vocabulary(text: str, source: str) -> Vocabulary:
    """The vocabulary in YAML `text`; a LabelError naming `source` and each problem's field and class."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise LabelError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise LabelError(f"{source} must be a mapping with a 'fields' list, not {type(raw).__name__}")
    try:
        return Vocabulary.model_validate(raw)
    except ValidationError as exc:
        raise LabelError(f"{source} is not a valid label vocabulary: {_message(raw, exc)}") from exc


def vocabulary_path(workspace: Workspace) -> Path:
    return workspace.path(LABELS, VOCABULARY_NAME)


def load_vocabulary(workspace: Workspace) -> Vocabulary:
    """The workspace's vocabulary; an empty one (no fields) when it has none."""
    path = vocabulary_path(workspace)
    return parse_vocabulary(path.read_text(), str(path)) if path.is_file() else Vocabulary()


def save_vocabulary(workspace: Workspace, vocabulary: Vocabulary) -> Path:
    """Write `labels/vocabulary.yaml` atomically (normalised: defaults written out)."""
    data = yaml.safe_dump(vocabulary.model_dump(exclude_none=True), sort_keys=False, allow_unicode=True)
    return write_bytes(data.encode(), vocabulary_path(workspace))
