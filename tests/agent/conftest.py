"""An in-process stand-in for the control plane's agent endpoints (docs/agent-protocol.md), over
``httpx.MockTransport``: lets the agent's loops be tested without a server process. The real server is
exercised end to end in tests/integration/test_agent_*.py.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest


@dataclass
class FakeControlPlane:
    heartbeat_interval_s: float = 0.1
    lost_after_s: float = 2.0
    long_poll_s: float = 0.2
    down: bool = False
    node_tokens: dict[str, str] = field(default_factory=dict)  # token -> node id
    registrations: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    to_assign: list[dict[str, Any]] = field(default_factory=list)
    to_stop: list[dict[str, Any]] = field(default_factory=list)
    states: list[tuple[str, int, str, int | None, str | None]] = field(default_factory=list)
    logs: dict[tuple[str, int, str], dict[int, str]] = field(default_factory=dict)
    stale: set[tuple[str, int]] = field(default_factory=set)

    def assign(
        self,
        job_id: str,
        run: str,
        *,
        attempt: int = 1,
        gpus: tuple[int, ...] = (0,),
        grace_s: float = 1.0,
        **extra: Any,
    ) -> None:
        self.to_assign.append(
            {
                "job_id": job_id,
                "attempt": attempt,
                "name": job_id,
                "gpu_indices": list(gpus),
                "env": {},
                "setup": None,
                "run": run,
                "checkpoint_signal": None,
                "grace_s": grace_s,
                "kind": "training",
                **extra,
            }
        )

    def stop(self, job_id: str, attempt: int = 1, reason: str = "cancelled", grace_s: float = 1.0) -> None:
        self.to_stop.append({"job_id": job_id, "attempt": attempt, "reason": reason, "grace_s": grace_s})

    def final(self, job_id: str, attempt: int = 1) -> tuple[str, int | None, str | None] | None:
        for j, a, s, code, msg in self.states:
            if (j, a) == (job_id, attempt) and s != "running":
                return s, code, msg
        return None

    def text(self, job_id: str, attempt: int = 1, stream: str = "stdout") -> str:
        chunks = self.logs.get((job_id, attempt, stream), {})
        out, pos = [], 0
        for off in sorted(chunks):
            assert off == pos, f"gap in {stream} of {job_id}: expected offset {pos}, got {off}"
            out.append(chunks[off])
            pos += len(chunks[off].encode())
        return "".join(out)

    def _node(self, request: httpx.Request) -> str | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return self.node_tokens.get(token)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        parts = request.url.path.strip("/").split("/")
        body = json.loads(request.content) if request.content else {}
        if parts == ["v1", "agents", "register"]:
            if request.headers.get("authorization") != "Bearer provider-token":
                return httpx.Response(401, json={"detail": "bad token"})
            self.registrations.append(body)
            node_id = body.get("node_id") or f"n-{len(self.registrations)}"
            token = secrets.token_hex(8)
            self.node_tokens = {t: n for t, n in self.node_tokens.items() if n != node_id}
            self.node_tokens[token] = node_id
            return httpx.Response(
                201,
                json={
                    "node_id": node_id,
                    "node_token": token,
                    "heartbeat_interval_s": self.heartbeat_interval_s,
                    "lost_after_s": self.lost_after_s,
                    "long_poll_s": self.long_poll_s,
                },
            )
        node = self._node(request)
        if node is None or parts[2] != node:
            return httpx.Response(401, json={"detail": "unknown node token"})
        if parts[3] == "heartbeat":
            self.heartbeats.append(body)
            stops, self.to_stop = self.to_stop, []
            return httpx.Response(200, json={"stop": stops, "server_time": "2026-01-01T00:00:00+00:00"})
        if parts[3] == "assignments":
            wait_s = float(request.url.params.get("wait_s", 0))
            for _ in range(int(wait_s / 0.02)):
                if self.to_assign:
                    break
                await asyncio.sleep(0.02)
            return httpx.Response(200, json={"assignments": list(self.to_assign), "stop": []})
        job_id = parts[4]
        if parts[5] == "state":
            if (job_id, body["attempt"]) in self.stale:
                return httpx.Response(409, json={"detail": "stale attempt"})
            self.states.append((job_id, body["attempt"], body["state"], body["exit_code"], body["message"]))
            self.to_assign = [a for a in self.to_assign if (a["job_id"], a["attempt"]) != (job_id, body["attempt"])]
            return httpx.Response(200, json={"ok": True})
        if parts[5] == "logs":
            assert len(body["data"].encode()) <= 65536
            chunks = self.logs.setdefault((job_id, body["attempt"], body["stream"]), {})
            chunks.setdefault(body["offset"], body["data"])
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(404, json={"detail": "no such endpoint"})


@pytest.fixture
def control_plane() -> FakeControlPlane:
    return FakeControlPlane()


async def until(cond: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    """Poll ``cond`` until it is truthy (returns it), or fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = cond()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture(name="until")
def _until() -> Callable[..., Any]:
    return until
