"""Job specs: Hexagrid's native YAML (close to SkyPilot's task YAML) and sbatch import.

``parse_spec(text, source)`` reads either form and returns a validated :class:`JobRequest`;
``JobRequest.to_jobspec`` turns it into the scheduler's :class:`~hexagrid.domain.JobSpec`.
Every problem is a :class:`~hexagrid.errors.ValidationFailed` naming the field, the value and what
is accepted, all problems of a document at once.
"""

from hexagrid.specs.model import JobRequest, parse_document, parse_duration_s
from hexagrid.specs.native import parse_spec, parse_yaml
from hexagrid.specs.sbatch import SUPPORTED_DIRECTIVES, parse_sbatch

__all__ = [
    "SUPPORTED_DIRECTIVES",
    "JobRequest",
    "parse_document",
    "parse_duration_s",
    "parse_sbatch",
    "parse_spec",
    "parse_yaml",
]
