"""A small httpx client of the control plane, shared by the CLI, the agent and the benchmarks.

Where the server is: flags, else ``HEXAGRID_URL`` / ``HEXAGRID_TOKEN``, else the config file
(``HEXAGRID_CONFIG``, default ``$XDG_CONFIG_HOME/hexagrid/config.toml``) that ``hexagrid up`` writes.
HTTP errors become Hexagrid errors with the server's message: 404 ``NotFound``, 409 ``ConflictError``,
other 4xx ``InputError``, 5xx and connection failures ``ServiceError``.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from hexagrid.errors import ConflictError, InputError, NotFound, ServiceError

__all__ = ["DEFAULT_URL", "HexagridClient", "config_path", "read_config", "resolve", "write_config"]

DEFAULT_URL = "http://127.0.0.1:8642"


def config_path() -> Path:
    if os.environ.get("HEXAGRID_CONFIG"):
        return Path(os.environ["HEXAGRID_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hexagrid" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, Any]:
    p = path or config_path()
    if not p.is_file():
        return {}
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise InputError(
            f'{p}: cannot read the CLI config ({exc}); expected lines url = "..." and token = "..."'
        ) from None


def write_config(url: str, token: str, path: Path | None = None) -> Path:
    """Write ``url`` and ``token`` (file mode 0600: it holds a secret)."""
    p = path or config_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# written by hexagrid up\nurl = {json.dumps(url)}\ntoken = {json.dumps(token)}\n")
    return p


def resolve(url: str | None = None, token: str | None = None) -> tuple[str, str | None]:
    """URL and token from flags, environment, then the config file."""
    cfg: dict[str, Any] = {}
    if (url is None and not os.environ.get("HEXAGRID_URL")) or (token is None and not os.environ.get("HEXAGRID_TOKEN")):
        cfg = read_config()
    u = url or os.environ.get("HEXAGRID_URL") or cfg.get("url") or DEFAULT_URL
    t = token or os.environ.get("HEXAGRID_TOKEN") or cfg.get("token")
    return str(u).rstrip("/"), t


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        detail = resp.json().get("detail")
    except (ValueError, AttributeError):
        detail = resp.text[:500]
    if isinstance(detail, list):
        parts = []
        for d in detail:
            if isinstance(d, dict):
                loc = d.get("loc")
                loc = ".".join(str(x) for x in loc) if isinstance(loc, list) else loc
                parts.append(f"{loc}: {d.get('msg')}" if loc else str(d.get("msg")))
            else:
                parts.append(str(d))
        msg = "; ".join(parts)
    else:
        msg = str(detail)
    code = resp.status_code
    if code == 404:
        raise NotFound(msg)
    if code == 409:
        raise ConflictError(msg)
    if code in (401, 403):
        raise InputError(f"server refused the token ({code}): {msg}")
    if code < 500:
        raise InputError(msg)
    raise ServiceError(f"server error {code}: {msg}")


class HexagridClient:
    """Thin wrapper over the REST API (``/v1``); one ``httpx.Client`` kept alive for reuse."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, self.token = resolve(url, token)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HexagridClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise ServiceError(f"cannot reach the Hexagrid server at {self.url}: {exc}") from None
        _raise_for(resp)
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    # --- jobs -----------------------------------------------------------------------------------
    def submit(
        self, spec: str | dict[str, Any], *, content_type: str = "text/plain", idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if isinstance(spec, dict):
            return self.request("POST", "/v1/jobs", json=spec, headers=headers)
        return self.request("POST", "/v1/jobs", content=spec.encode(), headers=headers | {"Content-Type": content_type})

    def jobs(
        self, *, state: list[str] | None = None, project: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = state
        if project:
            params["project"] = project
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", "/v1/jobs", params=params)

    def job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/jobs/{job_id}/cancel")

    def events(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}/events")

    def explain(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}/explain")

    def usage(self) -> dict[str, Any]:
        return self.request("GET", "/v1/usage")

    def logs(self, job_id: str, *, follow: bool = False, attempt: int | None = None) -> Iterator[str]:
        params: dict[str, Any] = {"follow": follow}
        if attempt is not None:
            params["attempt"] = attempt
        try:
            with self.http.stream(
                "GET", f"/v1/jobs/{job_id}/logs", params=params, timeout=None if follow else 30
            ) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    _raise_for(resp)
                yield from resp.iter_text()
        except httpx.TransportError as exc:
            raise ServiceError(f"cannot reach the Hexagrid server at {self.url}: {exc}") from None

    # --- admin ----------------------------------------------------------------------------------
    def create_org(self, org: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/orgs", json=org)

    def set_budget(self, org_id: str, budget_eur: float | None, *, project: str | None = None) -> dict[str, Any]:
        """Set (``None``: lift) the budget of an organisation or of one of its projects (admin)."""
        path = f"/v1/orgs/{org_id}" if project is None else f"/v1/orgs/{org_id}/projects/{project}"
        return self.request("PATCH", path, json={"budget_eur": budget_eur})

    def create_token(self, org_id: str, scopes: list[str], name: str = "") -> str:
        return str(self.request("POST", f"/v1/orgs/{org_id}/tokens", json={"scopes": scopes, "name": name})["token"])

    def put_site(self, site: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/sites", json=site)

    def sites(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/sites")["sites"]

    def nodes(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/nodes")["nodes"]

    # --- agent protocol (docs/agent-protocol.md) -------------------------------------------------
    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/agents/register", json=body)

    def heartbeat(self, node_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/v1/agents/{node_id}/heartbeat", json=body)

    def assignments(self, node_id: str, wait_s: float = 0.0) -> dict[str, Any]:
        return self.request("GET", f"/v1/agents/{node_id}/assignments", params={"wait_s": wait_s}, timeout=wait_s + 30)

    def report_state(self, node_id: str, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/v1/agents/{node_id}/jobs/{job_id}/state", json=body)

    def post_log(self, node_id: str, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/v1/agents/{node_id}/jobs/{job_id}/logs", json=body)
