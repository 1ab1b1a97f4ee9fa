"""``/v1/jobs``: submit (JSON, YAML or sbatch; ``Idempotency-Key``), list, get, cancel, logs, events, explain."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from hexagrid.errors import FieldError, ValidationFailed
from hexagrid.server import services
from hexagrid.server.auth import Principal
from hexagrid.server.context import ServerContext
from hexagrid.server.deps import Ctx, authenticate, need
from hexagrid.server.hotpath import submit_now
from hexagrid.specs import JobRequest, parse_document, parse_sbatch, parse_spec, parse_yaml

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_SUBMIT_BODY: dict[str, Any] = {
    "parameters": [
        {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200}}
    ],
    "security": [{"HTTPBearer": []}],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "a native job spec (see docs/specs.md)",
                    "properties": {
                        "name": {"type": "string"},
                        "run": {"type": "string"},
                        "resources": {"type": "object"},
                    },
                }
            },
            "application/yaml": {"schema": {"type": "string"}},
            "text/x-sbatch": {"schema": {"type": "string"}},
        },
    },
}

Submitter = Annotated[Principal, need("submit")]
Reader = Annotated[Principal, need("read")]


def parse_body(body: bytes, content_type: str) -> JobRequest:
    """A request body to a job request, by content type (text/plain: YAML or sbatch, told apart)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("request", [FieldError("body", "not UTF-8 text")]) from None
    ct = content_type.split(";")[0].strip().lower()
    if ct in ("application/json", ""):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(
                "request", [FieldError(f"body (line {exc.lineno}, column {exc.colno})", f"not valid JSON: {exc.msg}")]
            ) from None
        return parse_document(doc, "request", source_format="json")
    if ct in ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"):
        return parse_yaml(text, "request")
    if ct in ("text/x-sbatch", "text/x-shellscript", "application/x-sh"):
        return parse_sbatch(text, "request")
    if ct == "text/plain":
        return parse_spec(text, "request")
    raise ValidationFailed(
        "request",
        [
            FieldError(
                "Content-Type",
                f"unsupported {ct!r}; accepted: application/json, application/yaml, text/x-sbatch, text/plain",
            )
        ],
    )


@router.post(
    "",
    status_code=201,
    openapi_extra=_SUBMIT_BODY,
    summary="Submit a job",
    response_model=None,
    responses={200: {"description": "a retry with the same Idempotency-Key: the stored job"}},
)
async def submit(request: Request) -> JSONResponse:
    """The hot path (>= 1,000/s wanted): its common case is answered by ``hotpath.HotPaths`` before
    routing; here, authentication and headers are read by hand, no dependencies."""
    p = await authenticate(request, "submit")
    ctx: ServerContext = request.app.state.ctx
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
        raise ValidationFailed("request", [FieldError("Idempotency-Key", "must be 1-200 characters")])
    body = await request.body()
    req = parse_body(body, request.headers.get("content-type", "application/json"))
    if idempotency_key is None:  # group-committed with the submits arriving meanwhile
        return JSONResponse(await submit_now(ctx, p, req), status_code=201)

    def work() -> tuple[dict[str, Any], bool]:
        with ctx.db.session() as s:
            job, created = services.submit_job(
                s, org_id=p.org_id, req=req, idempotency_key=idempotency_key, org_residency=p.org_residency
            )
            return services.job_public(job), created

    out, created = await run_in_threadpool(work)
    if created:
        ctx.hub.wake_scheduler()
    return JSONResponse(out, status_code=201 if created else 200)


@router.get("", summary="List jobs (newest first)")
def list_jobs(
    ctx: Ctx,
    p: Reader,
    state: Annotated[list[str] | None, Query()] = None,
    project: str | None = None,
    name: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    with ctx.db.session() as s:
        rows, nxt = services.list_jobs(
            s, org_id=p.org_id, state=state, project=project, name=name, limit=limit, cursor=cursor
        )
        return {"jobs": [services.job_public(j) for j in rows], "next_cursor": nxt}


@router.get("/{job_id}", summary="One job")
def get_job(job_id: str, ctx: Ctx, p: Reader) -> dict[str, Any]:
    with ctx.db.session() as s:
        return services.job_public(services.get_job(s, org_id=p.org_id, job_id=job_id))


@router.post("/{job_id}/cancel", summary="Cancel a job")
def cancel(job_id: str, ctx: Ctx, p: Submitter) -> dict[str, Any]:
    with ctx.db.session() as s:
        job, nodes = services.cancel_job(s, org_id=p.org_id, job_id=job_id)
        out = services.job_public(job)
    for n in nodes:
        ctx.hub.notify_node(n)
    ctx.hub.wake_scheduler()
    return out


@router.get("/{job_id}/events", summary="Every state change with its reason")
def events(job_id: str, ctx: Ctx, p: Reader) -> dict[str, Any]:
    with ctx.db.session() as s:
        return {"job_id": job_id, "events": services.job_events(s, org_id=p.org_id, job_id=job_id)}


@router.get("/{job_id}/explain", summary="Why the job waits (or where it runs), per site")
def explain(job_id: str, request: Request, ctx: Ctx, p: Reader) -> dict[str, Any]:
    from hexagrid.server.explain import explain_job

    with ctx.db.session() as s:
        job = services.get_job(s, org_id=p.org_id, job_id=job_id)
        return explain_job(s, job=job, now=time.time(), signals=getattr(request.app.state, "signals", None))


@router.get(
    "/{job_id}/logs",
    summary="Logs of an attempt (stream with follow=true)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
async def logs(
    job_id: str,
    ctx: Ctx,
    p: Reader,
    attempt: Annotated[int | None, Query(ge=0)] = None,
    stream: Annotated[str | None, Query(pattern="^(stdout|stderr)$")] = None,
    follow: bool = False,
) -> StreamingResponse:
    def head() -> tuple[int, str]:
        with ctx.db.session() as s:
            job = services.get_job(s, org_id=p.org_id, job_id=job_id)
            return (job.attempt if attempt is None else attempt), job.state

    att, _state = await run_in_threadpool(head)

    async def gen() -> AsyncIterator[bytes]:
        after: dict[str, int] = {}
        while True:

            def read() -> tuple[list[tuple[str, int, str]], str, int]:
                with ctx.db.session() as s:
                    chunks = services.read_logs(s, job_id=job_id, attempt=att, stream=stream, after=after)
                    job = services.get_job(s, org_id=p.org_id, job_id=job_id)
                    return [(c.stream, c.offset, c.data) for c in chunks], job.state, job.attempt

            chunks, state, cur_attempt = await run_in_threadpool(read)
            for st, off, data in chunks:
                if off < after.get(st, 0):
                    continue
                after[st] = off + len(data.encode("utf-8"))
                yield data.encode("utf-8")
            done = state in services.TERMINAL_STATES or cur_attempt != att or (state == "pending" and att > 0)
            if not follow or (done and not chunks):
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(gen(), media_type="text/plain; charset=utf-8")
