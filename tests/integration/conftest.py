"""Integration fixtures: a real PostgreSQL and real ``hexagrid server`` processes.

``postgres_url``: a fresh, empty database per test (``CREATE DATABASE hx_<uuid>``) on the cluster named by
``HEXAGRID_TEST_POSTGRES_URL`` (CI), else a private cluster started once per test session (per xdist
worker) from Debian's PostgreSQL binaries, else the test is skipped (fails under
``HEXAGRID_REQUIRE_INTEGRATION=1``).

``server``: parametrised over ``sqlite`` and ``postgresql``; a factory ``server(**env)`` that starts
``hexagrid server`` on a free port with short heartbeat/lost timings and a bootstrap admin token, and
returns a :class:`ServerProcess` (``url``, ``admin_token``, ``data_dir``, ``database_url``, helpers to
create tenants, providers and sites, ``restart()``, ``stop()``). ``sqlite_server`` and
``postgres_server`` are the unparametrised variants.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hexagrid.server.localpg import PrivatePostgres, create_database, drop_database, free_port, pg_bin


def _root_conftest() -> Any:
    """The suite's root conftest (for ``missing_service``), loaded by path: tests/ is not a package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_hexagrid_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


missing_service = _root_conftest().missing_service

FAST_TIMINGS = {
    "HEXAGRID_HEARTBEAT_INTERVAL_S": "1",
    "HEXAGRID_LOST_AFTER_S": "3",
    "HEXAGRID_LONG_POLL_S": "2",
    "HEXAGRID_STOP_GRACE_S": "2",
    "HEXAGRID_TICK_S": "0.5",
}


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """URL of a PostgreSQL maintenance database (``postgres``) on a cluster we may create databases in."""
    url = os.environ.get("HEXAGRID_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if pg_bin() is None:
        missing_service("PostgreSQL not installed (apt-get install -y postgresql) and HEXAGRID_TEST_POSTGRES_URL unset")
    pg = PrivatePostgres()
    try:
        url = pg.start()
    except (subprocess.SubprocessError, OSError) as exc:
        pg.stop()
        missing_service(f"cannot start a private PostgreSQL: {exc}")
    yield url
    pg.stop()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for this test; dropped afterwards."""
    url = create_database(postgres_admin_url)
    yield url
    drop_database(postgres_admin_url, url)


def test_site(
    site_id: str = "test-fr", country: str = "FR", accelerator: str = "L40S", gpus_per_node: int = 2, **extra: Any
) -> dict[str, Any]:
    """A minimal private-cloud site document for tests."""
    zone = {"FR": "FR", "DE": "DE", "US": "US-CAL-CISO"}.get(country, country)
    doc = {
        "id": site_id,
        "name": site_id,
        "operator": "test",
        "kind": "private_cloud",
        "country": country,
        "region": "test",
        "latitude": 48.8,
        "longitude": 2.3,
        "grid_zone": zone,
        "power_mw": 1.0,
        "cooling": "air",
        "pue": 1.3,
        "access": "both",
        "price_eur_per_gpu_h": {accelerator: 1.0},
        "pools": [{"id": "p1", "accelerator": accelerator, "gpus_per_node": gpus_per_node, "nodes": 1}],
    }
    doc.update(extra)
    return doc


test_site.__test__ = False  # type: ignore[attr-defined]  # not a test, despite the name


@dataclass
class ServerProcess:
    """A running ``hexagrid server``; ``admin`` is an httpx client with the admin token."""

    url: str
    admin_token: str
    data_dir: Path
    database_url: str
    env: dict[str, str]
    port: int
    proc: subprocess.Popen[bytes] | None = None
    clients: list[httpx.Client] = field(default_factory=list)

    def start(self, timeout_s: float = 60.0) -> None:
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - the child owns it
        cmd = [
            sys.executable,
            "-m",
            "hexagrid.cli.main",
            "server",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--database-url",
            self.database_url,
        ]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start within {timeout_s} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, n: int = 4000) -> str:
        p = self.data_dir / "server.log"
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    def client(self, token: str | None = None) -> httpx.Client:
        c = httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {token or self.admin_token}"}
        )
        self.clients.append(c)
        return c

    @property
    def admin(self) -> httpx.Client:
        return self.client()

    def make_org(
        self,
        org_id: str,
        *,
        kind: str = "tenant",
        tenant_class: str = "commercial",
        residency: str = "ANY",
        scopes: tuple[str, ...] = ("submit", "read"),
        **extra: Any,
    ) -> str:
        """Create an organisation and return a token for it."""
        a = self.client()
        r = a.post(
            "/v1/orgs",
            json={"id": org_id, "name": org_id, "kind": kind, "class": tenant_class, "residency": residency, **extra},
        )
        assert r.status_code == 201, r.text
        if kind == "provider":
            scopes = ("provider",)
        r = a.post(f"/v1/orgs/{org_id}/tokens", json={"scopes": list(scopes)})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def put_site(self, doc: dict[str, Any]) -> None:
        r = self.client().post("/v1/sites", json=doc)
        assert r.status_code == 201, r.text


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _factory(tmp_path: Path, request: pytest.FixtureRequest, kind: str) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        data = tmp_path / f"server{len(started)}"
        data.mkdir()
        if kind == "postgresql":
            db_url = request.getfixturevalue("postgres_url")
        else:
            db_url = f"sqlite:///{data / 'hexagrid.db'}"
        token = "hxg_test_" + secrets.token_urlsafe(16)
        full = os.environ | FAST_TIMINGS | {"HEXAGRID_BOOTSTRAP_ADMIN_TOKEN": token} | env
        full.pop("HEXAGRID_CONFIG", None)
        port = free_port()
        sp = ServerProcess(
            url=f"http://127.0.0.1:{port}", admin_token=token, data_dir=data, database_url=db_url, env=full, port=port
        )
        started.append(sp)
        sp.start()
        return sp

    yield start
    for sp in started:
        for c in sp.clients:
            c.close()
        sp.stop()


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest, db_kind: str) -> Iterator[Callable[..., ServerProcess]]:
    """Factory of real server processes on ``db_kind`` (sqlite and postgresql)."""
    yield from _factory(tmp_path, request, db_kind)


@pytest.fixture
def sqlite_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., ServerProcess]]:
    yield from _factory(tmp_path, request, "sqlite")


@pytest.fixture
def postgres_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., ServerProcess]]:
    yield from _factory(tmp_path, request, "postgresql")
