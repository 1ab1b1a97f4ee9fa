"""The FastAPI application: lifespan (migrate, bootstrap, scenario, scheduling loop), middleware, errors."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hexagrid import __version__
from hexagrid.errors import ConflictError, HexagridError, InputError, NotFound, ServiceError, ValidationFailed
from hexagrid.server.auth import create_token, hash_token
from hexagrid.server.context import ServerContext
from hexagrid.server.db import Database, upgrade_database
from hexagrid.server.models import Org, Token
from hexagrid.server.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("hexagrid.server")
ADMIN_ORG = "admin"


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: structured logs (tokens never reach a log record)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "t": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k in ("method", "path", "status", "duration_ms"):
            if hasattr(record, k):
                out[k] = getattr(record, k)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def configure_logging(level: str) -> None:
    root = logging.getLogger("hexagrid")
    if not any(isinstance(h.formatter, _JsonFormatter) for h in root.handlers):
        h = logging.StreamHandler()
        h.setFormatter(_JsonFormatter())
        root.addHandler(h)
    root.setLevel(level.upper())
    root.propagate = False


class _Guard:
    """Pure ASGI middleware: request body limit (413) and latency metrics per route template."""

    def __init__(self, app: ASGIApp, ctx_getter: Any) -> None:
        self.app = app
        self.ctx_getter = ctx_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx: ServerContext = self.ctx_getter()
        limit = ctx.settings.max_body_bytes
        t0 = time.perf_counter()
        status = {"code": 500}
        for k, v in scope.get("headers", []):
            if k == b"content-length" and v.isdigit() and int(v) > limit:
                await _too_large(send, limit)
                ctx.metrics.observe_request(scope["method"], "(too large)", 413, time.perf_counter() - t0)
                return
        seen = {"n": 0}

        async def limited() -> Message:
            msg = await receive()
            if msg["type"] == "http.request":
                seen["n"] += len(msg.get("body", b""))
                if seen["n"] > limit:
                    raise _TooLarge
            return msg

        async def send_wrap(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
            await send(msg)

        try:
            await self.app(scope, limited, send_wrap)
        except _TooLarge:
            await _too_large(send, limit)
            status["code"] = 413
        route = scope.get("route")
        path = getattr(route, "path", "(unmatched)")
        dt = time.perf_counter() - t0
        ctx.metrics.observe_request(scope["method"], path, status["code"], dt)
        if status["code"] >= 500:
            log.error(
                "request failed",
                extra={
                    "method": scope["method"],
                    "path": path,
                    "status": status["code"],
                    "duration_ms": round(dt * 1000, 2),
                },
            )


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": [{"loc": "body", "msg": f"request body larger than {limit} bytes"}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def bootstrap(ctx: ServerContext) -> None:
    """Create the admin organisation and token from ``HEXAGRID_BOOTSTRAP_ADMIN_TOKEN`` on first start."""
    secret = ctx.settings.bootstrap_admin_token
    if not secret:
        return
    with ctx.db.session() as s:
        if s.execute(select(Token).where(Token.hash == hash_token(secret))).scalar_one_or_none() is not None:
            return
        if s.get(Org, ADMIN_ORG) is None:
            s.add(
                Org(
                    id=ADMIN_ORG,
                    name="Administrators",
                    kind="tenant",
                    tenant_class="commercial",
                    residency="ANY",
                    fair_share_weight=1.0,
                    flexibility_h=0.0,
                    created_s=time.time(),
                )
            )
            s.flush()
        create_token(
            s, org_id=ADMIN_ORG, scopes=["admin", "submit", "read", "provider"], name="bootstrap admin", secret=secret
        )
    log.info("bootstrap: admin organisation and token ready")


def load_scenario_into(ctx: ServerContext, name: str) -> None:
    """Sites of the scenario are upserted; its tenants become organisations (policy only) if missing."""
    from hexagrid.scenarios import load_scenario
    from hexagrid.server import services

    sc = load_scenario(name)
    with ctx.db.session() as s:
        for site in sc.sites:
            services.upsert_site(s, doc=site.model_dump(mode="json"))
        for t in sc.tenants:
            if s.get(Org, t.id) is None:
                services.create_org(
                    s,
                    org_id=t.id,
                    name=t.name,
                    kind="tenant",
                    tenant_class=t.tenant_class.value,
                    residency=str(t.residency),
                    budget_eur=t.budget_eur,
                    max_gpus=t.max_gpus,
                    fair_share_weight=t.fair_share_weight,
                    flexibility_h=t.flexibility_h,
                    projects=[p.model_dump() for p in t.projects],
                )
    log.info("scenario %s: %d sites, %d tenants", sc.name, len(sc.sites), len(sc.tenants))


def _json_safe(x: Any) -> Any:
    """``x`` with every non-finite float replaced by its name ('inf', '-inf', 'nan')."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_safe(v) for v in x]
    return x


def _error_body(exc: HexagridError) -> dict[str, Any]:
    if isinstance(exc, ValidationFailed):
        return {"detail": [{"loc": e.path, "msg": e.message} for e in exc.errors]}
    return {"detail": [{"loc": "", "msg": str(exc)}]}


def create_app(settings: Settings | None = None, *, start_loop: bool | None = None) -> FastAPI:
    """The app; its database, bootstrap and loop start in the lifespan (so importing is cheap)."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    holder: dict[str, ServerContext] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.url)
        upgrade_database(db.engine)
        ctx = ServerContext(settings=settings, db=db)
        holder["ctx"] = ctx
        app.state.ctx = ctx
        ctx.writer.start()
        from hexagrid.server.accounting import configure_carbon

        carbon = configure_carbon(None if (settings.carbon or "none").lower() == "none" else settings.carbon)
        app.state.signals = None if carbon is None else carbon.signals
        bootstrap(ctx)
        if settings.scenario:
            load_scenario_into(ctx, settings.scenario)
        loop: Any = None
        proc: Any = None
        if settings.scheduler_enabled if start_loop is None else start_loop:
            if settings.scheduler_process:
                from hexagrid.server.scheduler_process import SchedulerProcess

                proc = SchedulerProcess.start(settings)
                ctx.hub.scheduler_wake = proc.wake
                app.state.scheduler_process = proc
            else:
                from hexagrid.server.loop import SchedulingLoop

                loop = SchedulingLoop(ctx)
                loop.signals = app.state.signals
                app.state.loop = loop
                loop.start()
        log.info("hexagrid server %s ready on %s", __version__, "postgresql" if db.postgres else "sqlite")
        try:
            yield
        finally:
            if loop is not None:
                loop.stop()
            if proc is not None:
                proc.stop()
            ctx.writer.stop()
            db.dispose()

    app = FastAPI(
        title="Hexagrid control plane",
        version=__version__,
        lifespan=lifespan,
        description="Submit AI jobs, read where and why they run, and connect provider agents.",
    )
    from hexagrid.server.hotpath import HotPaths

    app.add_middleware(HotPaths, ctx_getter=lambda: holder["ctx"])
    app.add_middleware(_Guard, ctx_getter=lambda: holder["ctx"])  # outermost: body limit and metrics

    status_of = {ValidationFailed: 422, NotFound: 404, ConflictError: 409, ServiceError: 503}

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer, except that a non-finite number echoed as the input ('budget_eur':
        # Infinity) is written as a string: JSON has no Infinity or NaN, and encoding it was a 500
        return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(HexagridError)
    async def _hx(_req: Request, exc: HexagridError) -> JSONResponse:
        code = next(
            (c for t, c in status_of.items() if isinstance(exc, t)), 400 if isinstance(exc, InputError) else 500
        )
        return JSONResponse(_error_body(exc), status_code=code)

    from hexagrid.server.routers import admin, agents, fleet, jobs, ops

    for r in (ops.router, jobs.router, agents.router, fleet.router, admin.router):
        app.include_router(r)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory (``hexagrid.server.app:app_from_env``): settings from ``HEXAGRID_*`` variables."""
    return create_app(Settings())
