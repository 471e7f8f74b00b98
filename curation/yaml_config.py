"""Read a small YAML config file into a pydantic model, with one clear error for a bad file."""
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_yaml_config(path: Path, model: type[M], error: type[Exception], what: str) -> M:
    """`model` from the YAML at `path`, its defaults when the file is missing; `error` names a bad file."""
    if not path.is_file():
        return model()
    try:
        return model.model_validate(yaml.safe_load(path.read_text()) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise error(f"{path} is not a valid {what}: {exc}") from exc
