"""The agent's local state file: its node credentials and every job attempt it has not finished reporting.

Written atomically (temporary file + rename) after every change, so an agent killed at any instant
restarts with a consistent view: which process groups it started, where their logs are, how much of
each log the server has acknowledged, and which final states are still to be reported.
A lock on the state directory keeps two agents from sharing one.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, Field

from hexagrid.errors import DataError, InputError

__all__ = ["AgentState", "JobRecord", "StateStore"]

FinalState = Literal["succeeded", "failed", "preempted", "cancelled"]


class JobRecord(BaseModel):
    """One job attempt on this node, from assignment until its final state is acknowledged by the server."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    attempt: int
    name: str = ""
    kind: str = "training"
    gpu_indices: list[int] = Field(default_factory=list)
    grace_s: float = 30.0
    checkpoint_signal: str | None = None
    work_dir: str = ""
    meta_dir: str = ""
    pid: int | None = None
    started_at_s: float | None = None
    # stop in progress: why, and the wall-clock deadline after which the group gets SIGKILL
    stop_reason: str | None = None
    stop_message: str | None = None
    stop_requested_at_s: float | None = None
    stop_deadline_s: float | None = None
    signals_sent: list[str] = Field(default_factory=list)
    # end: set once nothing of the group is left running
    ended: bool = False
    ended_at_s: float | None = None
    exit_code: int | None = None
    final_state: FinalState | None = None
    final_message: str | None = None
    running_reported: bool = False
    log_offsets: dict[str, int] = Field(default_factory=lambda: {"stdout": 0, "stderr": 0})

    @property
    def key(self) -> str:
        return f"{self.job_id}#{self.attempt}"


class AgentState(BaseModel):
    """Everything the agent persists."""

    model_config = ConfigDict(extra="ignore")

    server_url: str | None = None
    node_id: str | None = None
    node_token: str | None = None
    node_name: str | None = None
    jobs: dict[str, JobRecord] = Field(default_factory=dict)


class StateStore:
    """``<state_dir>/state.json`` behind an exclusive lock (``<state_dir>/agent.lock``)."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.path = state_dir / "state.json"
        self._lock: IO[str] | None = None

    def lock(self) -> None:
        """Take the directory's lock, or fail with the pid of the agent holding it."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fh = open(self.dir / "agent.lock", "a+")  # noqa: SIM115 - held for the agent's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise InputError(
                f"--state-dir: {str(self.dir)!r} is in use by another agent (pid {holder}); give each agent its own"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def load(self) -> AgentState:
        if not self.path.exists():
            return AgentState()
        try:
            return AgentState.model_validate(json.loads(self.path.read_text()))
        except (ValueError, OSError) as exc:
            raise DataError(
                f"{self.path}: cannot read the agent's state ({exc}); move it away to start afresh"
            ) from None

    def save(self, state: AgentState) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the node token
        with os.fdopen(fd, "w") as fh:
            fh.write(state.model_dump_json(indent=1))
        os.replace(tmp, self.path)
