"""Mapping shares and synthetic mixes from YAML files, with every field error reported at once.

A shares file holds any fields of :class:`~hexagrid.workloads.mapping.AttributeShares` (the rest keep
their defaults), a mix file any fields of :class:`~hexagrid.workloads.synthetic.SyntheticMix`::

    # shares.yaml
    academic_share: 0.4
    deadline_share: 0.3
    residency:
      commercial_sensitive: {FR: 0.8, EU: 0.2, ANY: 0.0}

Errors are :class:`~hexagrid.errors.ValidationFailed` naming the file and each field path, in the
scenario files' phrasing (the same YAML reader and error translator).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from hexagrid.errors import DataError, FieldError, ValidationFailed
from hexagrid.workloads.mapping import AttributeShares
from hexagrid.workloads.synthetic import SyntheticMix

__all__ = ["load_mix", "load_shares"]

M = TypeVar("M", bound=BaseModel)


def _load(path: str | Path, model: type[M]) -> M:
    from hexagrid.scenarios import field_errors, load_yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    data = load_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed(str(path), [FieldError("", f"must be a mapping of {model.__name__} fields")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(str(path), field_errors(exc, model)) from None


def load_shares(path: str | Path) -> AttributeShares:
    """The mapping rule's shares from a YAML file (fields left out keep their defaults)."""
    return _load(path, AttributeShares)


def load_mix(path: str | Path) -> SyntheticMix:
    """A synthetic mix from a YAML file (fields left out keep their defaults)."""
    return _load(path, SyntheticMix)
