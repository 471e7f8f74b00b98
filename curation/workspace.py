"""A workspace: one folder holding a corpus's shards, scores, decisions, reviews and reports.

Layout (see README "Workspace layout"):
    gristmill.yaml            config: schema version, name, defaults
    shards/NNNNN.{tar,parquet} crawled media (WebDataset tar) and per-sample metadata
    clips/                    clip metadata and keyframes cut from videos
    scores/<scorer>/          one Parquet per shard and scorer, keyed by sample_id
    embeddings/<model>/       L2-normalised embeddings per shard
    decisions/                curation decisions, one file per recipe run
    reviews/                  the append-only human review log
    reports/                  crawl reports, funnels, histograms
"""
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from curation import __version__
from curation.errors import GristmillError
from schemas import SCHEMA_VERSION

CONFIG_NAME = "gristmill.yaml"
LAYOUT = ("shards", "clips", "scores", "embeddings", "decisions", "reviews", "reports")


class WorkspaceError(GristmillError):
    """The path is not a usable gristmill workspace; the message says why and what to do."""


class WorkspaceConfig(BaseModel):
    """What `gristmill.yaml` holds."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int
    name: str
    gristmill_version: str
    embedding_model: str | None = None
    """The model_id of the embeddings that dedup, the engine, labels and the review app use when several models'
    embeddings are present (see curation.catalog.Catalog.embedding_model); None: the only model present."""


class Workspace:
    """An opened workspace; `Workspace.init` creates one, `Workspace.open` checks and opens one."""

    def __init__(self, root: Path, config: WorkspaceConfig):
        self.root = Path(root)
        self.config = config

    @classmethod
    def init(cls, root: Path, name: str | None = None) -> "Workspace":
        """Create a workspace at `root` (the folder may exist but must not hold another workspace)."""
        root = Path(root)
        if (root / CONFIG_NAME).exists():
            raise WorkspaceError(f"{root} is already a gristmill workspace")
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root} exists and is not a folder")
        config = WorkspaceConfig(
            schema_version=SCHEMA_VERSION, name=name or root.resolve().name, gristmill_version=__version__
        )
        for sub in LAYOUT:
            (root / sub).mkdir(parents=True, exist_ok=True)
        from curation.atomic import write_bytes

        write_bytes(yaml.safe_dump(config.model_dump(), sort_keys=True).encode(), root / CONFIG_NAME)
        return cls(root, config)

    @classmethod
    def open(cls, root: Path) -> "Workspace":
        """Open an existing workspace, refusing non-workspaces and workspaces of a newer schema."""
        root = Path(root)
        cfg_path = root / CONFIG_NAME
        if not cfg_path.is_file():
            raise WorkspaceError(
                f"{root} is not a gristmill workspace (no {CONFIG_NAME}); create one with: gristmill init {root}"
            )
        try:
            raw = yaml.safe_load(cfg_path.read_text()) or {}
            config = WorkspaceConfig.model_validate(raw)
        except (yaml.YAMLError, ValidationError) as exc:
            raise WorkspaceError(f"{cfg_path} is not a valid workspace config: {exc}") from exc
        if config.schema_version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"{root} has workspace schema version {config.schema_version}, newer than this gristmill "
                f"supports ({SCHEMA_VERSION}); upgrade gristmill to open it"
            )
        if config.schema_version < SCHEMA_VERSION:
            raise WorkspaceError(
                f"{root} has workspace schema version {config.schema_version}, older than this gristmill "
                f"({SCHEMA_VERSION}), and no migration exists yet; re-create it with this version"
            )
        for sub in LAYOUT:
            (root / sub).mkdir(exist_ok=True)
        return cls(root, config)

    def path(self, *parts: str) -> Path:
        """A path inside the workspace."""
        return self.root.joinpath(*parts)

    def parquet_files(self, *parts: str) -> list[Path]:
        """Committed Parquet files directly under a workspace folder, sorted (temporary files skipped)."""
        folder = self.path(*parts)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))

    def parquet_glob(self, *parts: str) -> str | None:
        """The glob of the committed Parquet files directly under a workspace folder, or None when it has none.

        Temporary files (`.<name>.tmp-*`) never match, so a reader of the glob sees only renamed, whole files."""
        folder = self.path(*parts)
        if not folder.is_dir():
            return None
        with os.scandir(folder) as entries:
            found = any(e.name.endswith(".parquet") and not e.name.startswith(".") for e in entries)
        return str(folder / "*.parquet") if found else None

    def subfolders(self, *parts: str) -> list[str]:
        """Names of the folders under a workspace folder, sorted."""
        folder = self.path(*parts)
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
