"""The data-engine loop: a quality model learns from reviewers' accept/reject decisions and takes over the
confident ones, SAM-style, while audits check it (see curation.engine.engine for the workflow)."""
from curation.engine.config import EngineConfig, EngineError, load_config
from curation.engine.engine import Engine, QueueItem, RouteReport, TrainReport
from curation.engine.stages import FULL, MANUAL, SEMI

__all__ = ["Engine", "EngineConfig", "EngineError", "FULL", "MANUAL", "QueueItem", "RouteReport", "SEMI",
           "TrainReport", "load_config"]
