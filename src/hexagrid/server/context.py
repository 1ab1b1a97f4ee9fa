"""What a running server shares between requests and the scheduling loop (one object, no globals)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from hexagrid.server.auth import TokenCache
from hexagrid.server.db import Database
from hexagrid.server.metrics import Metrics
from hexagrid.server.settings import Settings
from hexagrid.server.writer import GroupCommitter

__all__ = ["Hub", "ServerContext"]


class Hub:
    """Wake-ups inside one process: the scheduler on submits/finishes/node changes, agents on new work.

    Other replicas notice through the periodic tick and the long poll's periodic database check.
    """

    def __init__(self, scheduler_wake: Any = None) -> None:
        # a threading.Event, or a multiprocessing Event when the loop runs in its own process
        self.scheduler_wake = scheduler_wake if scheduler_wake is not None else threading.Event()
        self._lock = threading.Lock()
        self._node_versions: dict[str, int] = {}

    def wake_scheduler(self) -> None:
        self.scheduler_wake.set()

    def notify_node(self, node_id: str) -> None:
        with self._lock:
            self._node_versions[node_id] = self._node_versions.get(node_id, 0) + 1

    def node_version(self, node_id: str) -> int:
        return self._node_versions.get(node_id, 0)


@dataclass
class ServerContext:
    settings: Settings
    db: Database
    tokens: TokenCache = field(default_factory=TokenCache)
    hub: Hub = field(default_factory=Hub)
    metrics: Metrics = field(default_factory=Metrics)
    writer: GroupCommitter = field(init=False)

    def __post_init__(self) -> None:
        self.writer = GroupCommitter(self.db.engine)
