"""FastAPI dependencies: the server context, the calling principal, scope checks, node credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from hexagrid.server.auth import Principal
from hexagrid.server.context import ServerContext

__all__ = ["Ctx", "CurrentPrincipal", "authenticate", "bearer_token", "get_ctx", "need", "node_principal"]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")


async def get_ctx(request: Request) -> ServerContext:
    return request.app.state.ctx


Ctx = Annotated[ServerContext, Depends(get_ctx)]


async def current_principal(
    ctx: Ctx, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if cred is None or not cred.credentials:
        raise HTTPException(
            401, "missing token: send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"}
        )
    # dependencies are async so FastAPI does not hop to a worker thread for each; the database is
    # only read (in a thread) when the token is not in the short-lived cache
    hit, p = ctx.tokens.cached(cred.credentials)
    if not hit:
        p = await run_in_threadpool(ctx.tokens.resolve, ctx.db.sessions, cred.credentials)
    if p is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return p


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def bearer_token(request: Request) -> str:
    """The token of the ``Authorization: Bearer`` header (401 when there is none), not yet checked."""
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401, "missing token: send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"}
        )
    return token.strip()


async def authenticate(request: Request, scope: str) -> Principal:
    """The same check as the dependencies, done by hand on the hot routes (submit, heartbeat), where
    FastAPI's dependency resolution was a measurable share of the request's CPU."""
    ctx: ServerContext = request.app.state.ctx
    token = bearer_token(request)
    hit, p = ctx.tokens.cached(token)
    if not hit:
        p = await run_in_threadpool(ctx.tokens.resolve, ctx.db.sessions, token)
    if p is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    if scope == "node":
        node_id = request.path_params.get("node_id")
        if "node" not in p.scopes or p.node_id != node_id:
            raise HTTPException(404, f"node {node_id!r} not found for this token")
    elif not p.has(scope):
        raise HTTPException(403, f"this token lacks the {scope!r} scope (it has: {', '.join(sorted(p.scopes))})")
    return p


def need(scope: str) -> object:
    """A dependency that admits principals holding ``scope`` (admin holds every scope but ``node``)."""

    async def check(p: CurrentPrincipal) -> Principal:
        if not p.has(scope):
            raise HTTPException(403, f"this token lacks the {scope!r} scope (it has: {', '.join(sorted(p.scopes))})")
        return p

    return Depends(check)


async def node_principal(node_id: str, p: CurrentPrincipal) -> Principal:
    """A node token, for its own node only (any other node id is 'not found')."""
    if "node" not in p.scopes or p.node_id != node_id:
        raise HTTPException(404, f"node {node_id!r} not found for this token")
    return p


NodePrincipal = Annotated[Principal, Depends(node_principal)]
