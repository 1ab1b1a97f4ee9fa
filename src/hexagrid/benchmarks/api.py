"""``hexagrid bench api``: the control plane's request path, measured against a real server process.

* submissions per second with p50/p99 latency, on SQLite and on PostgreSQL: ``clients`` client
  processes x ``threads`` threads each submit jobs as fast as the server answers (closed loop), over
  loopback, until ``submits`` jobs are in;
* heartbeats: ``agents`` simulated nodes are registered, then (1) closed loop: as many heartbeats per
  second as the server takes, and (2) open loop at the rate ``agents`` nodes beating every
  ``interval_s`` seconds produce (10,000 agents / 30 s = 333 per second), with its p99 latency.

The server runs as ``hexagrid server`` (one uvicorn process, the scheduling loop on) exactly as an
operator would run it; the clients run in separate processes so they do not share its interpreter.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

__all__ = ["ApiBenchResult", "run_api_bench"]

_JOB = {
    "name": "bench",
    "resources": {"accelerators": "H100:8"},
    "run": "python train.py",
    "residency": "FR",
    "walltime": "2h",
}


@dataclass
class ApiBenchResult:
    figures: dict[str, float]
    notes: list[str]


def _start_server(
    data: Path, db_url: str, port: int, admin: str, env: dict[str, str], workers: int = 1
) -> subprocess.Popen[bytes]:
    full = (
        os.environ
        | {
            "HEXAGRID_BOOTSTRAP_ADMIN_TOKEN": admin,
            "HEXAGRID_HEARTBEAT_INTERVAL_S": "30",
            "HEXAGRID_LOST_AFTER_S": "3600",
        }
        | env
    )
    log = open(data / "server.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hexagrid.cli.main",
            "server",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--database-url",
            db_url,
        ],
        env=full,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {(data / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _submit_worker(url: str, token: str, n: int, threads: int, out: Any) -> None:
    """One client process: ``threads`` threads share ``n`` submissions; latencies (s) go to ``out``."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    left = [n]

    def run() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            mine: list[float] = []
            while True:
                with lock:
                    if left[0] <= 0:
                        break
                    left[0] -= 1
                t0 = time.perf_counter()
                r = c.post("/v1/jobs", json=_JOB)
                mine.append(time.perf_counter() - t0)
                if r.status_code != 201:
                    errors[0] += 1
            with lock:
                lat.extend(mine)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((lat, errors[0], time.perf_counter() - t0))


def _heartbeat_worker(
    url: str, nodes: list[tuple[str, str]], mode: str, seconds: float, rate_per_s: float, threads: int, out: Any
) -> None:
    """Closed loop (``mode='max'``) or open loop at ``rate_per_s`` (spread over threads) for ``seconds``."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    body = {
        "available": True,
        "telemetry": {
            "power_w": 5600.0,
            "power_source": "estimate",
            "gpus": [{"index": i, "power_w": 700.0, "utilisation_pct": 90.0} for i in range(8)],
        },
        "running": [],
    }

    def run(k: int) -> None:
        mine: list[float] = []
        my_nodes = nodes[k::threads]
        end = time.perf_counter() + seconds
        period = threads / rate_per_s if mode == "open" else 0.0
        nxt = time.perf_counter()
        i = 0
        with httpx.Client(base_url=url, timeout=30) as c:
            while True:
                now = time.perf_counter()
                if now >= end:
                    break
                if period:
                    if now < nxt:
                        time.sleep(nxt - now)
                    nxt += period
                node_id, tok = my_nodes[i % len(my_nodes)]
                i += 1
                t0 = time.perf_counter()
                r = c.post(f"/v1/agents/{node_id}/heartbeat", json=body, headers={"Authorization": f"Bearer {tok}"})
                mine.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors[0] += 1
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((lat, errors[0], time.perf_counter() - t0))


def _fan_out(target: Any, args_per_proc: list[tuple[Any, ...]]) -> tuple[list[float], int, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, q)) for a in args_per_proc]
    for p in procs:
        p.start()
    lat: list[float] = []
    errors = 0
    wall = 0.0
    for _ in procs:
        got, e, w = q.get(timeout=900)
        lat += got
        errors += e
        wall = max(wall, w)
    for p in procs:
        p.join()
    return lat, errors, wall


def _pct(lat: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(lat), q) * 1000.0) if lat else float("nan")


def _submit_phase(url: str, token: str, submits: int, clients: int, threads: int) -> dict[str, float]:
    # warm-up: connections, caches, the first scheduling passes
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        for _ in range(50):
            c.post("/v1/jobs", json=_JOB)
    per = [submits // clients + (1 if i < submits % clients else 0) for i in range(clients)]
    lat, errors, wall = _fan_out(_submit_worker, [(url, token, n, threads) for n in per])
    # throughput: all submissions over the slowest client process's busy time (its start-up excluded)
    return {
        "n": len(lat),
        "per_s": len(lat) / max(wall, 1e-9),
        "p50_ms": _pct(lat, 50),
        "p99_ms": _pct(lat, 99),
        "errors": errors,
    }


def _setup(url: str, admin: str, agents: int, progress: Any = None) -> tuple[str, list[tuple[str, str]]]:
    h = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=url, headers=h, timeout=60) as c:
        c.post("/v1/orgs", json={"id": "bench", "name": "bench"}).raise_for_status()
        tok = c.post("/v1/orgs/bench/tokens", json={"scopes": ["submit", "read"]}).json()["token"]
        if agents == 0:
            return tok, []
        c.post("/v1/orgs", json={"id": "bench-prov", "name": "bench provider", "kind": "provider"}).raise_for_status()
        prov = c.post("/v1/orgs/bench-prov/tokens", json={"scopes": ["provider"]}).json()["token"]
        site = {
            "id": "bench-fr",
            "name": "bench",
            "operator": "bench",
            "kind": "private_cloud",
            "country": "FR",
            "region": "IDF",
            "latitude": 48.8,
            "longitude": 2.3,
            "grid_zone": "FR",
            "power_mw": 10_000,
            "cooling": "air",
            "pue": 1.3,
            "access": "both",
            "price_eur_per_gpu_h": {"H100": 2.0},
            "pools": [{"id": "h100", "accelerator": "H100", "gpus_per_node": 8, "nodes": 1}],
        }
        c.post("/v1/sites", json=site).raise_for_status()
    nodes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def reg(start: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {prov}"}, timeout=60) as c:
            for i in range(start, agents, 8):
                r = c.post(
                    "/v1/agents/register",
                    json={
                        "node_name": f"n{i:05d}",
                        "site_id": "bench-fr",
                        "accelerator": "H100",
                        "gpus": 8,
                        "cpus": 96,
                        "memory_gb": 1024,
                    },
                )
                r.raise_for_status()
                with lock:
                    nodes.append((r.json()["node_id"], r.json()["node_token"]))
                    if progress is not None:
                        progress()

    ts = [threading.Thread(target=reg, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return tok, nodes


def run_api_bench(
    *,
    submits: int = 5000,
    agents: int = 10_000,
    interval_s: float = 30.0,
    seconds: float = 15.0,
    clients: int = 2,
    threads: int = 8,
    postgres: bool = True,
    workers: int = 1,
    progress: Any = None,
) -> ApiBenchResult:
    """Run every phase; ``progress(phase: str)`` is called as phases start."""
    from hexagrid.server.localpg import PrivatePostgres, create_database, drop_database, free_port

    figures: dict[str, float] = {}
    notes: list[str] = []
    say = progress or (lambda _p: None)
    tmp = Path(tempfile.mkdtemp(prefix="hx-bench-api-"))
    pg: PrivatePostgres | None = None
    admin = "hxg_bench_" + secrets.token_urlsafe(16)
    try:
        # --- SQLite: submissions ---
        say("sqlite: submissions")
        port = free_port()
        (tmp / "sqlite").mkdir()
        proc = _start_server(tmp / "sqlite", f"sqlite:///{tmp / 'sqlite' / 'hexagrid.db'}", port, admin, {})
        try:
            url = f"http://127.0.0.1:{port}"
            tok, _ = _setup(url, admin, 0)
            r = _submit_phase(url, tok, submits, clients, threads)
            figures |= {
                "submit_per_s_sqlite": r["per_s"],
                "submit_p50_ms_sqlite": r["p50_ms"],
                "submit_p99_ms_sqlite": r["p99_ms"],
                "submit_errors_sqlite": r["errors"],
            }
        finally:
            _stop(proc)
        if not postgres:
            return ApiBenchResult(figures, notes)
        # --- PostgreSQL: submissions and heartbeats ---
        admin_url = os.environ.get("HEXAGRID_TEST_POSTGRES_URL")
        if not admin_url:
            say("postgresql: starting a private cluster")
            pg = PrivatePostgres()
            admin_url = pg.start()
        db_url = create_database(admin_url, "hx_bench_")
        port = free_port()
        (tmp / "pg").mkdir()
        proc = _start_server(tmp / "pg", db_url, port, admin, {}, workers)
        try:
            url = f"http://127.0.0.1:{port}"
            say(f"postgresql: registering {agents} agents")
            tok, nodes = _setup(url, admin, agents)
            say("postgresql: submissions")
            r = _submit_phase(url, tok, submits, clients, threads)
            figures |= {
                "submit_per_s_postgres": r["per_s"],
                "submit_p50_ms_postgres": r["p50_ms"],
                "submit_p99_ms_postgres": r["p99_ms"],
                "submit_errors_postgres": r["errors"],
            }
            if nodes:
                say("postgresql: heartbeats, closed loop")
                chunks = [nodes[i::clients] for i in range(clients)]
                lat, errors, wall = _fan_out(
                    _heartbeat_worker, [(url, ch, "max", seconds, 0.0, threads) for ch in chunks]
                )
                figures |= {
                    "heartbeat_per_s": len(lat) / wall,
                    "heartbeat_max_p99_ms": _pct(lat, 99),
                    "heartbeat_errors": errors,
                }
                rate = agents / interval_s
                say(f"postgresql: heartbeats, open loop at {rate:.0f}/s")
                lat, errors, wall = _fan_out(
                    _heartbeat_worker, [(url, ch, "open", seconds, rate / clients, threads) for ch in chunks]
                )
                figures |= {
                    "heartbeat_target_per_s": rate,
                    "heartbeat_achieved_per_s": len(lat) / wall,
                    "heartbeat_p50_ms": _pct(lat, 50),
                    "heartbeat_p99_ms": _pct(lat, 99),
                    "heartbeat_errors": figures["heartbeat_errors"] + errors,
                    "agents": agents,
                }
        finally:
            _stop(proc)
            drop_database(admin_url, db_url)
    finally:
        if pg is not None:
            pg.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return ApiBenchResult(figures, notes)
