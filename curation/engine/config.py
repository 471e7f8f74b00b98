"""The engine's settings (`engine/config.yaml` in the workspace; defaults when absent) and its error type."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from curation.errors import GristmillError
from curation.workspace import Workspace
from curation.yaml_config import read_yaml_config

ENGINE = "engine"
CONFIG_NAME = "config.yaml"


class EngineError(GristmillError):
    """The engine cannot do what was asked (too few decisions, no embeddings, bad config); the message says why."""


class EngineConfig(BaseModel):
    """How the quality model is trained and how its decisions are routed and audited."""

    model_config = ConfigDict(extra="forbid")
    target_precision: float = Field(0.95, gt=0.5, lt=1.0, description=(
        "agreement with human decisions the automatic decisions must reach: the lower end of the confidence "
        "interval of the precision of auto-accepts and of auto-rejects, and the measured audit agreement"))
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description=(
        "level of the Wilson confidence intervals (thresholds: the precision's lower end must reach the target)"))
    retrain_every: int = Field(200, ge=1, description="new human decisions that make `maybe_retrain` train")
    min_decisions: int = Field(100, ge=10, description="human decisions (with both outcomes) needed to train")
    min_support: int = Field(30, ge=5, description="held-out decisions a threshold's precision must rest on")
    cv_folds: int = Field(5, ge=2, description="folds of the cross-validation that calibrates the model")
    trees: int = Field(100, ge=1, description="boosting iterations (trees) of the quality model")
    learning_rate: float = Field(0.1, gt=0, le=1, description="shrinkage of each tree's contribution")
    min_leaf: int = Field(10, ge=1, description="fewest human decisions in a leaf of a tree")
    l2_regularization: float = Field(1.0, ge=0, description="L2 penalty on the trees' leaf values")
    embedding_model: str | None = Field(None, description="embeddings model_id; required when several exist")
    embedding_components: int = Field(32, ge=1, description="principal components of the embeddings used")
    score_columns: list[str] | None = Field(None, description="'view.column' scores used; default all numeric")
    audit_fraction: float = Field(0.01, ge=0, le=1, description="share of automatic decisions sent to audit")
    min_audits: int = Field(30, ge=1, description="audits needed before the stop rule can fire")
    audit_window: int = Field(300, ge=1, description="most recent audits the agreement is measured on")
    full_auto_max_flagged: float = Field(0.02, ge=0, le=1, description=(
        "fully automatic once at most this share of the undecided samples is flagged for review"))
    uncertain_pool: int = Field(5, ge=1, description="a review batch of k is picked for diversity from the "
                                                     "pool*k most uncertain flagged samples")
    calibration_share: float = Field(0.5, ge=0, lt=1, description=(
        "share of a review batch (after pending audits) given to undecided samples drawn at random within the "
        "probability bins that human decisions cover least, so that "
        "the held-out precision estimate has human decisions where the model is confident, not only near 1/2 "
        "(the thresholds' lower confidence bound needs them: half the reviews teach, half verify)"))
    seed: int = 0


def load_config(workspace: Workspace) -> EngineConfig:
    """The workspace's engine config (`engine/config.yaml`), or the defaults when it has none."""
    path = workspace.path(ENGINE, CONFIG_NAME)
    return read_yaml_config(path, EngineConfig, EngineError, "engine config")
