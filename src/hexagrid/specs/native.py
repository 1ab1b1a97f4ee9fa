"""Native YAML job specs, and ``parse_spec`` which tells YAML from an sbatch script."""

from __future__ import annotations

import yaml

from hexagrid.errors import FieldError, ValidationFailed
from hexagrid.specs.model import JobRequest, parse_document

__all__ = ["looks_like_sbatch", "parse_spec", "parse_yaml"]

MAX_SPEC_BYTES = 1 << 20


def parse_yaml(text: str, source: str = "request") -> JobRequest:
    """Parse a native YAML (or JSON, a YAML subset) job spec."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise ValidationFailed(source, [FieldError("", f"a job spec is at most {MAX_SPEC_BYTES} bytes")])
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "document"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationFailed(source, [FieldError(where, f"not valid YAML: {problem}")]) from None
    return parse_document(doc, source)


def looks_like_sbatch(text: str) -> bool:
    """A shell script (``#!``) or any ``#SBATCH`` line means an sbatch script."""
    head = text.lstrip()
    return head.startswith("#!") or any(line.lstrip().startswith("#SBATCH") for line in text.splitlines()[:200])


def parse_spec(text: str, source: str = "request") -> JobRequest:
    """Read a job spec that is either native YAML or an sbatch script."""
    if looks_like_sbatch(text):
        from hexagrid.specs.sbatch import parse_sbatch

        return parse_sbatch(text, source)
    return parse_yaml(text, source)
