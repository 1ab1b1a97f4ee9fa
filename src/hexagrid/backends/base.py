"""The backend seam: the scheduling loop hands a ``Start`` to a backend inside its transaction."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from hexagrid.domain import Start

__all__ = ["Backend"]


class Backend(ABC):
    """Executes starts. Must not do network I/O: it runs inside the loop's database transaction."""

    @abstractmethod
    def start(
        self,
        session: Any,
        *,
        job: Any,
        start: Start,
        pool_nodes: Mapping[tuple[str, str], Sequence[Any]],
        used_gpus: MutableMapping[str, set[int]],
        now: float,
    ) -> list[str] | None:
        """Record the start of ``job``; returns the node ids to notify, or None if it cannot be placed as asked."""
