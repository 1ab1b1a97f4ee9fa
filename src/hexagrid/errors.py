"""One exception hierarchy for the whole package.

    HexagridError                 anything Hexagrid raises on purpose
    ├── InputError                bad user input: a file, a field, a flag (CLI exit 2, HTTP 4xx)
    │   ├── ValidationFailed      one or more field errors, all reported at once
    │   ├── DataError             a data file that cannot be read as its format says (gaps, columns)
    │   └── NotFound              a named thing (scenario, zone, job, site) that does not exist
    ├── ConflictError             a request that clashes with stored state (HTTP 409)
    ├── InfeasibleError           an optimisation with no solution; carries a diagnosis
    └── ServiceError              a service Hexagrid depends on failed (database, Slurm, server)

Every message names the file or field, the bad value and what would be accepted, so the CLI can
print it as one line without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ConflictError",
    "DataError",
    "FieldError",
    "HexagridError",
    "InfeasibleError",
    "InputError",
    "NotFound",
    "ServiceError",
    "ValidationFailed",
]


class HexagridError(Exception):
    """Base class of every error Hexagrid raises on purpose."""


class InputError(HexagridError):
    """Bad user input. The CLI prints it as one line and exits with status 2."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem at one field: ``sites[3].pools[0].gpus_per_node: must be ..., got 0``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ValidationFailed(InputError):
    """All field errors of one document, with the document's name (a file path or 'request')."""

    def __init__(self, source: str, errors: Sequence[FieldError]) -> None:
        self.source = source
        self.errors = list(errors)
        super().__init__(self.lines()[0] if len(self.errors) == 1 else f"{source}: {len(self.errors)} errors")

    def lines(self) -> list[str]:
        """One line per error, each prefixed with the source."""
        return [f"{self.source}: {e}" for e in self.errors]

    def __str__(self) -> str:
        return "\n".join(self.lines())


class DataError(InputError):
    """A data file that does not hold what its format promises (missing column, gap, bad value)."""


class NotFound(InputError):
    """A named thing that does not exist; the message lists what does."""


class ConflictError(HexagridError):
    """A request that conflicts with stored state."""


class InfeasibleError(HexagridError):
    """An optimisation problem without a feasible solution; ``diagnosis`` says what binds."""

    def __init__(self, message: str, diagnosis: object | None = None) -> None:
        super().__init__(message)
        self.diagnosis = diagnosis


class ServiceError(HexagridError):
    """A service Hexagrid depends on (database, Slurm, the server) failed or is unreachable."""
