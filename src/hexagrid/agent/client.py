"""The agent's side of the agent protocol (docs/agent-protocol.md), over one ``httpx.AsyncClient``.

Errors fall in three kinds the agent treats differently::

    ServiceError
    └── ServerUnavailable     connection refused/reset, timeout, 5xx: retry with backoff, keep the jobs running
        └── NodeUnknown       401/403/404 on a node call: the node token is no longer valid, register again
    InputError
    └── ServerRejected        another 4xx (bad token at registration, unknown site): the operator must act
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from hexagrid.errors import InputError, ServiceError

__all__ = [
    "AgentClient",
    "Assignment",
    "AssignmentsReply",
    "HeartbeatReply",
    "NodeUnknown",
    "RegisterReply",
    "ServerRejected",
    "ServerUnavailable",
    "StopOrder",
]


class ServerUnavailable(ServiceError):
    """The server cannot be reached or failed (5xx): worth retrying."""


class NodeUnknown(ServerUnavailable):
    """The server does not accept this node's token any more (it was reset or the node removed)."""


class ServerRejected(InputError):
    """The server refused a request for a reason retrying will not fix."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RegisterReply(_Reply):
    node_id: str
    node_token: str
    heartbeat_interval_s: float = Field(gt=0)
    lost_after_s: float = Field(gt=0)
    long_poll_s: float = Field(ge=0)


class StopOrder(_Reply):
    job_id: str
    attempt: int
    reason: str = "unknown"
    grace_s: float = Field(default=30.0, ge=0)


class HeartbeatReply(_Reply):
    stop: list[StopOrder] = Field(default_factory=list)
    server_time: str | None = None


class Assignment(_Reply):
    job_id: str
    attempt: int
    name: str = ""
    gpu_indices: list[int] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    setup: str | None = None
    run: str
    checkpoint_signal: Literal["SIGTERM", "SIGUSR1"] | None = None
    grace_s: float = Field(default=30.0, ge=0)
    kind: str = "training"


class AssignmentsReply(_Reply):
    assignments: list[Assignment] = Field(default_factory=list)
    stop: list[StopOrder] = Field(default_factory=list)


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(body, dict):
        for key in ("detail", "error", "message"):
            if key in body:
                detail = body[key]
                if isinstance(detail, list):  # field errors: [{"loc": ..., "msg": ...}]
                    return "; ".join(_field_error(d) for d in detail)
                return str(detail)
    return str(body)[:200]


def _field_error(d: Any) -> str:
    if not isinstance(d, dict):
        return str(d)
    loc = d.get("loc", "")
    where = ".".join(str(x) for x in loc if x != "body") if isinstance(loc, list | tuple) else str(loc)
    return f"{where}: {d.get('msg', '')}" if where else str(d.get("msg", d))


class AgentClient:
    """Calls of the agent protocol. ``transport`` lets tests put a server in-process (httpx.MockTransport)."""

    def __init__(
        self,
        base_url: str,
        provider_token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.provider_token = provider_token
        self.node_token: str | None = None
        self.timeout_s = timeout_s
        self._http = httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        unknown_node: tuple[int, ...] = (401, 403, 404),
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            resp = await self._http.request(
                method, path, json=json, params=params, headers=headers, timeout=timeout_s or self.timeout_s
            )
        except httpx.HTTPError as exc:  # connect, read, timeouts, protocol errors
            raise ServerUnavailable(f"{method} {self.base_url}{path}: {type(exc).__name__}: {exc}") from None
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            raise ServerUnavailable(f"{method} {path}: server error {resp.status_code}: {_detail(resp)}")
        if resp.status_code in unknown_node:
            raise NodeUnknown(f"{method} {path}: {resp.status_code}: {_detail(resp)}")
        return resp

    def _ok(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        if resp.status_code >= 400:
            raise ServerRejected(f"{what}: the server answered {resp.status_code}: {_detail(resp)}", resp.status_code)
        body = resp.json()
        return body if isinstance(body, dict) else {}

    async def register(self, body: dict[str, Any]) -> RegisterReply:
        resp = await self._call("POST", "/v1/agents/register", token=self.provider_token, json=body, unknown_node=())
        reply = RegisterReply.model_validate(self._ok(resp, "register"))
        self.node_token = reply.node_token
        return reply

    async def heartbeat(self, node_id: str, body: dict[str, Any]) -> HeartbeatReply:
        resp = await self._call("POST", f"/v1/agents/{node_id}/heartbeat", token=self.node_token, json=body)
        return HeartbeatReply.model_validate(self._ok(resp, "heartbeat"))

    async def assignments(self, node_id: str, wait_s: float) -> AssignmentsReply:
        resp = await self._call(
            "GET",
            f"/v1/agents/{node_id}/assignments",
            token=self.node_token,
            params={"wait_s": wait_s},
            timeout_s=wait_s + self.timeout_s,
        )
        return AssignmentsReply.model_validate(self._ok(resp, "assignments"))

    async def report_state(self, node_id: str, job_id: str, body: dict[str, Any]) -> bool:
        """True when accepted; False when the server no longer expects this attempt (409) or job (404)."""
        resp = await self._call(
            "POST",
            f"/v1/agents/{node_id}/jobs/{job_id}/state",
            token=self.node_token,
            json=body,
            unknown_node=(401, 403),
        )
        if resp.status_code in (404, 409):  # job gone or attempt stale: nothing left to report
            return False
        self._ok(resp, f"state of job {job_id}")
        return True

    async def send_logs(self, node_id: str, job_id: str, body: dict[str, Any]) -> bool:
        """True when stored (or already stored); False when the server refuses this attempt's logs (409/4xx)."""
        resp = await self._call(
            "POST",
            f"/v1/agents/{node_id}/jobs/{job_id}/logs",
            token=self.node_token,
            json=body,
            unknown_node=(401, 403),
        )
        return resp.status_code < 400
