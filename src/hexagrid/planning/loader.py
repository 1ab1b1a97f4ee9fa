"""Load a planning scenario by built-in name or by path, with one-line field errors.

YAML reading and the pydantic-error translation are the shared ones of :mod:`hexagrid.scenarios`, so a
planning file fails the same way a fleet scenario does (``sites[3].grid[0].mw: must be ..., got -5``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hexagrid.errors import DataError, FieldError, NotFound, ValidationFailed
from hexagrid.planning.inputs import PlanningScenario
from hexagrid.scenarios.validation import field_errors, load_yaml

__all__ = ["builtin_names", "load_planning", "parse_planning"]


def _builtin_dir() -> Path:
    return Path(str(resources.files("hexagrid.planning") / "builtin"))


def builtin_names() -> list[str]:
    """Names of the planning scenarios shipped with Hexagrid."""
    return sorted(p.stem for p in _builtin_dir().glob("*.yaml"))


def parse_planning(data: Any, source: str = "planning scenario") -> PlanningScenario:
    """Validate a mapping (as read from YAML); every field error is reported at once."""
    if not isinstance(data, dict):
        raise ValidationFailed(source, [FieldError("", f"must be a mapping of fields, got {type(data).__name__}")])
    try:
        return PlanningScenario.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(source, field_errors(exc, PlanningScenario)) from None


def load_planning(name_or_path: str | Path) -> PlanningScenario:
    """A built-in planning scenario by name (``france-2030``) or a YAML file by path."""
    text = str(name_or_path)
    path = Path(text)
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        if text not in builtin_names():
            raise NotFound(
                f"planning scenario {text!r} is neither a file nor a built-in; built-ins: {', '.join(builtin_names())}"
            )
        path = _builtin_dir() / f"{text}.yaml"
    if not path.is_file():
        raise NotFound(f"planning scenario file {path} does not exist")
    try:
        text_ = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    return parse_planning(load_yaml(text_, str(path)), str(path))
