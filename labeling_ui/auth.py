"""Who is reviewing: sign-in by a per-reviewer token or a trusted proxy's header, and the two roles.

Modes (`gristmill review` passes the mode to the app in the environment):
    tokens  `--auth tokens.yaml`: each reviewer has a secret token; the file holds only its SHA-256, and a
            token is checked against every entry with hmac.compare_digest (constant time).
    header  `--auth-header X-Forwarded-User`: an authenticating reverse proxy (oauth2-proxy, nginx with
            auth_request…) signs reviewers in and passes their name in that header; `--admins` names the admins.
    none    no sign-in: one local user, who is an admin (the CLI refuses this off the loopback interface
            unless `--insecure-no-auth`).
Roles: `reviewer` reviews; `admin` may also compact the review log, retrain and route the engine (ADMIN_ACTIONS).
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from curation.errors import GristmillError

ENV_AUTH_TOKENS = "GRISTMILL_AUTH_TOKENS"
ENV_AUTH_HEADER = "GRISTMILL_AUTH_HEADER"
ENV_ADMINS = "GRISTMILL_ADMINS"
ADMIN = "admin"
REVIEWER = "reviewer"
ADMIN_ACTIONS = ("compact the review log", "retrain the engine", "route samples with the engine")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$"


class AuthError(GristmillError):
    """A token file that cannot be used, a sign-in that fails, or an action the role may not take."""


@dataclass(frozen=True)
class Identity:
    """A signed-in reviewer: the name that goes into the review log, and their role."""

    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        """Whether the reviewer may take ADMIN_ACTIONS."""
        return self.role == ADMIN


class TokenEntry(BaseModel):
    """One reviewer of a token file."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN)
    role: Literal["reviewer", "admin"] = REVIEWER
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hash_token(token): lower-case hex")


class TokenFile(BaseModel):
    """What a token file (`--auth tokens.yaml`) holds: `reviewers`, each with name, role and token_sha256."""

    model_config = ConfigDict(extra="forbid")
    reviewers: list[TokenEntry] = Field(min_length=1)

    @field_validator("reviewers")
    @classmethod
    def _unique(cls, reviewers: list[TokenEntry]) -> list[TokenEntry]:
        for what in ("name", "token_sha256"):
            values = [getattr(r, what) for r in reviewers]
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                shown = repeated if what == "name" else [f"{v[:8]}…" for v in repeated]
                raise ValueError(f"each reviewer needs their own {what}; repeated: {', '.join(shown)}")
        return reviewers


def hash_token(token: str) -> str:
    """The SHA-256 (hex) that a token file stores for `token`."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_tokens(path: Path) -> TokenFile:
    """The token file at `path`; AuthError saying exactly what is wrong with a missing or bad one."""
    if not path.is_file():
        raise AuthError(f"token file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise AuthError(f"token file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise AuthError(f"token file {path} must be a mapping with a `reviewers` list")
    try:
        return TokenFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors())
        raise AuthError(f"token file {path}: {problems}") from exc


def check_token(tokens: TokenFile, token: str) -> Identity | None:
    """The reviewer whose token this is, or None; every entry is compared, each in constant time."""
    digest = hash_token(token.strip())
    found = None
    for entry in tokens.reviewers:
        if hmac.compare_digest(digest, entry.token_sha256):
            found = Identity(entry.name, entry.role)
    return found


def header_identity(headers: Mapping[str, str], header: str, admins: frozenset[str]) -> Identity | None:
    """The reviewer a trusted proxy named in `header` (None when absent or not a valid name)."""
    name = (headers.get(header) or "").strip()
    if not re.fullmatch(NAME_PATTERN, name):
        return None
    return Identity(name, ADMIN if name in admins else REVIEWER)


def require_admin(identity: Identity, action: str) -> None:
    """Raise AuthError unless `identity` is an admin (`action` as in ADMIN_ACTIONS)."""
    if not identity.is_admin:
        raise AuthError(f"only admins may {action}; {identity.name} signed in as a {identity.role}")


@dataclass(frozen=True)
class AuthConfig:
    """How the app signs reviewers in (see the module docstring)."""

    mode: Literal["none", "tokens", "header"]
    tokens: TokenFile | None = None
    header: str | None = None
    admins: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "AuthConfig":
        """The configuration `gristmill review` put into the environment."""
        if environ.get(ENV_AUTH_TOKENS):
            return cls("tokens", tokens=load_tokens(Path(environ[ENV_AUTH_TOKENS])))
        if environ.get(ENV_AUTH_HEADER):
            admins = frozenset(a.strip() for a in environ.get(ENV_ADMINS, "").split(",") if a.strip())
            return cls("header", header=environ[ENV_AUTH_HEADER], admins=admins)
        return cls("none")
