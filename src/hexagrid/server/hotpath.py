"""The two hot requests' common case, answered before FastAPI's routing and dependency machinery.

``POST /v1/jobs`` (JSON, no ``Idempotency-Key``, a token already in the cache with the ``submit``
scope, a spec that parses) and ``POST /v1/agents/{node_id}/heartbeat`` (an idle node's heartbeat
whose token matches the node) are answered here, by the same service functions as their routes
(``submit_now``, ``idle_beat``), each write group-committed. Anything else — a missing or unknown
token, a body that does not parse, a refused spec, a node with work to reconcile — is passed on
untouched (the body replayed) to the FastAPI route, which gives the documented answer or error. So
these shortcuts change what a request costs, never what it gets: the routes stay the single
definition of the API, and of its OpenAPI schema.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hexagrid.server import agents, services
from hexagrid.server.auth import Principal, hash_token
from hexagrid.server.context import ServerContext
from hexagrid.specs import JobRequest, parse_document

__all__ = ["HotPaths", "StoredThenFailed", "heartbeat_answer", "idle_beat", "submit_now"]

_HEARTBEAT_PREFIX, _HEARTBEAT_SUFFIX = "/v1/agents/", "/heartbeat"


async def submit_now(ctx: ServerContext, p: Principal, req: JobRequest) -> dict[str, Any]:
    """Store a new job (no idempotency key), group-committed; its public view once committed."""
    values = services.new_job_values(org_id=p.org_id, req=req, org_residency=p.org_residency)
    got = await ctx.writer.run(services.insert_jobs, values)
    if isinstance(got, Exception):
        raise got
    try:
        ctx.hub.wake_scheduler()
        return services.job_public(got)
    except Exception as exc:
        raise StoredThenFailed(f"job {got.get('id')} was stored, then answering failed: {exc}") from exc


class StoredThenFailed(Exception):
    """A failure after the write was committed: the hot path must not replay the request to the route
    (that would store the job a second time); it surfaces as the server error it is."""


async def idle_beat(ctx: ServerContext, node_id: str, token: str, body: agents.HeartbeatIn, now: float) -> bool:
    """An idle node's heartbeat, group-committed; False when it needs authentication and reconciliation."""
    values = agents.idle_heartbeat_values(body, now)
    return values is not None and bool(
        await ctx.writer.run(agents.idle_heartbeats, (node_id, hash_token(token), values))
    )


def heartbeat_answer(stop: list[dict[str, Any]], now: float) -> dict[str, Any]:
    return {"stop": stop, "server_time": datetime.fromtimestamp(now, UTC).isoformat()}


def _dumps(doc: Any) -> bytes:  # as Starlette's JSONResponse writes it
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


class HotPaths:
    """Pure ASGI middleware: the common case of submit and heartbeat, else the app."""

    def __init__(self, app: ASGIApp, ctx_getter: Any) -> None:
        self.app = app
        self.ctx_getter = ctx_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        node_id = None
        if path == "/v1/jobs":
            template = "/v1/jobs"
        elif path.startswith(_HEARTBEAT_PREFIX) and path.endswith(_HEARTBEAT_SUFFIX):
            node_id = path[len(_HEARTBEAT_PREFIX) : -len(_HEARTBEAT_SUFFIX)]
            if not node_id or "/" in node_id:
                await self.app(scope, receive, send)
                return
            template = "/v1/agents/{node_id}/heartbeat"
        else:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        body, tail = await _read_body(receive)
        answer = None
        if tail is None and headers.get(b"content-type", b"application/json").split(b";")[0].strip() in (
            b"application/json",
            b"",
        ):
            ctx: ServerContext = self.ctx_getter()
            try:
                if node_id is None:
                    answer = await self._submit(ctx, headers, body)
                else:
                    answer = await self._heartbeat(ctx, headers, node_id, body)
            except StoredThenFailed:
                raise
            except Exception:  # not answered here: the route gives the documented answer or error
                answer = None
        if answer is None:
            await self.app(scope, _replay(body, tail, receive), send)
            return
        status, doc = answer
        scope["route"] = _RouteLabel(template)  # what the metrics label requests by
        out = _dumps(doc)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", str(len(out)).encode()), (b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": out})

    @staticmethod
    async def _submit(ctx: ServerContext, headers: dict[bytes, bytes], body: bytes) -> tuple[int, Any] | None:
        if b"idempotency-key" in headers:
            return None
        token = _bearer(headers)
        if token is None:
            return None
        hit, p = ctx.tokens.cached(token)
        if not hit or p is None or not p.has("submit"):
            return None
        req = parse_document(json.loads(body), "request", source_format="json")
        return 201, await submit_now(ctx, p, req)

    @staticmethod
    async def _heartbeat(
        ctx: ServerContext, headers: dict[bytes, bytes], node_id: str, body: bytes
    ) -> tuple[int, Any] | None:
        token = _bearer(headers)
        if token is None:
            return None
        beat = agents.HeartbeatIn.model_validate_json(body)
        now = time.time()
        if not await idle_beat(ctx, node_id, token, beat, now):
            return None
        return 200, heartbeat_answer([], now)


class _RouteLabel(NamedTuple):
    path: str


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope["headers"]}


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    kind, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    token = token.strip()
    return token if kind.lower() == "bearer" and token else None


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body; or, if something other than body parts came (a disconnect), that message too."""
    parts: list[bytes] = []
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return b"".join(parts), msg
        parts.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            return b"".join(parts), None


def _replay(body: bytes, tail: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then what the connection says next."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if tail is not None:
            return tail
        return await receive()

    return again
