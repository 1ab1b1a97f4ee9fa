"""``hexagrid bench api``: the control plane's request path, measured against a real server process.

* submissions per second with p50/p99 latency, on SQLite and on PostgreSQL: ``clients`` client
  processes x ``connections`` keep-alive connections each submit jobs as fast as the server answers
  (closed loop), over loopback, until ``submits`` jobs are in; the jobs stored are then counted in
  the database (a submission answered 201 but not stored would be an error);
* heartbeats: ``agents`` simulated nodes are registered, then (1) closed loop: as many heartbeats per
  second as the server takes, and (2) open loop at the rate ``agents`` nodes beating every
  ``interval_s`` seconds produce (10,000 agents / 30 s = 333 per second), with its p99 latency
  counted from the moment each heartbeat was due (so a late client cannot hide the server's delay).
  The agents sit at a site in Germany, where the submitted jobs (residency FR) cannot go: these
  simulated agents never poll for work, so a job placed on one would stay undelivered and turn every
  later heartbeat of that node into a reconciliation; they measure idle agents in their steady state.

The server runs as ``hexagrid server`` (uvicorn, the scheduling loop on) exactly as an operator would
run it. The load generator is a measuring instrument and must not starve the server of CPU on a
small box (as ``wrk`` does not): each client process runs one asyncio loop speaking HTTP/1.1 over
keep-alive loopback connections (real requests with real tokens, the response's status line, headers
and body read in full), not a general-purpose client with a thread per connection.

Where ``/proc`` exists, each phase also reports the CPU each side spent per request (``cpu_ms_*``):
the server's process tree (its scheduling process apart), the PostgreSQL cluster's processes and the
client processes. On a box shared with other work these are steadier than the throughput figures.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

__all__ = ["ApiBenchResult", "HttpConnection", "run_api_bench"]

_JOB = {
    "name": "bench",
    "resources": {"accelerators": "H100:8"},
    "run": "python train.py",
    "residency": "FR",
    "walltime": "2h",
}
_HEARTBEAT = {
    "available": True,
    "telemetry": {
        "power_w": 5600.0,
        "power_source": "estimate",
        "gpus": [{"index": i, "power_w": 700.0, "utilisation_pct": 90.0} for i in range(8)],
    },
    "running": [],
}


@dataclass
class ApiBenchResult:
    figures: dict[str, float]
    notes: list[str]


# ---- a small HTTP/1.1 keep-alive client over asyncio streams ------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; ``request`` sends a prepared request and reads the whole
    response (status line, headers, a ``Content-Length`` or chunked body). Reopens after ``close``."""

    #: a connection idle this long is reopened before use: the server closes idle keep-alive
    #: connections after 5 s (uvicorn's default), and a request must not race that close
    IDLE_REOPEN_S = 3.0

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._r: asyncio.StreamReader | None = None
        self._w: asyncio.StreamWriter | None = None
        self._used = 0.0

    @staticmethod
    def prepare(host: str, port: int, method: str, path: str, body: bytes, token: str | None) -> bytes:
        head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
        if token is not None:
            head.append(f"Authorization: Bearer {token}")
        head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        now = time.monotonic()
        if self._w is not None and now - self._used > self.IDLE_REOPEN_S:
            self.close()
        self._used = now
        if self._w is None:
            self._r, self._w = await asyncio.open_connection(self.host, self.port)
        assert self._r is not None
        self._w.write(raw)
        try:
            head = await self._r.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.close()
            raise ConnectionError("the server closed the connection") from None
        lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = lines[0].split(" ", 2)
        if not version.startswith("HTTP/1."):
            self.close()
            raise ConnectionError(f"not an HTTP/1.x response: {lines[0]!r}")
        length, chunked, close = -1, False, False
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "transfer-encoding":
                chunked = "chunked" in v.lower()
            elif k == "connection":
                close = v.strip().lower() == "close"
        if chunked:
            parts = []
            while True:
                size = int((await self._r.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self._r.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        elif length >= 0:
            body = await self._r.readexactly(length)
        else:  # no length: the body runs to the end of the connection
            body = await self._r.read()
            close = True
        if close:
            self.close()
        return int(status), body

    def close(self) -> None:
        if self._w is not None:
            self._w.close()
        self._r = self._w = None


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a server dependency
        return asyncio.new_event_loop()


def _run_here(coro: Any) -> Any:
    """Run a client coroutine in this process (set-up and warm-up, not measured)."""
    loop = _new_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


# ---- client processes ----------------------------------------------------------------------------------


def _client_main(target: Callable[..., Any], args: tuple[Any, ...], out: Any) -> None:
    """One client process: runs ``target(*args)`` on an event loop, reports (latencies, errors, wall, cpu)."""
    loop = _new_loop()
    cpu0 = time.process_time()
    lat, errors, wall = loop.run_until_complete(target(*args))
    out.put((lat, errors, wall, time.process_time() - cpu0))
    loop.close()


class _Tally:
    """Latencies (s, from ``since``) and errors (a failed connection, or a status other than ``ok``)."""

    def __init__(self, ok: int) -> None:
        self.ok = ok
        self.lat: list[float] = []
        self.errors = 0

    async def send(self, c: HttpConnection, raw: bytes, since: float) -> None:
        try:
            status, _ = await c.request(raw)
        except (OSError, ValueError):
            c.close()
            status = 0
        self.lat.append(time.perf_counter() - since)
        if status != self.ok:
            self.errors += 1


async def _closed_loop(
    host: str, port: int, requests: list[bytes], n: int, connections: int, ok: int, seconds: float = float("inf")
) -> Any:
    """``connections`` connections each send the next request as soon as their last was answered,
    until ``n`` requests were sent or ``seconds`` have passed."""
    tally = _Tally(ok)
    left = n
    end = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal left
        c = HttpConnection(host, port)
        i = 0
        try:
            while left > 0 and time.perf_counter() < end:
                left -= 1
                raw = requests[i % len(requests)]
                i += 1
                await tally.send(c, raw, time.perf_counter())
        finally:
            c.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return tally.lat, tally.errors, time.perf_counter() - t0


async def _open_loop(host: str, port: int, requests: list[bytes], seconds: float, rate_per_s: float, ok: int) -> Any:
    """Send request k at ``t0 + k / rate`` on a free connection (a new one when none is free); each
    latency is counted from the moment its request was due."""
    tally = _Tally(ok)
    free: list[HttpConnection] = []
    pending: set[asyncio.Task[None]] = set()

    async def one(raw: bytes, due: float) -> None:
        c = free.pop() if free else HttpConnection(host, port)
        await tally.send(c, raw, due)
        free.append(c)

    t0 = time.perf_counter()
    k = 0
    while True:
        due = t0 + k / rate_per_s
        if due - t0 >= seconds:
            break
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        task = asyncio.ensure_future(one(requests[k % len(requests)], due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        k += 1
    if pending:
        await asyncio.gather(*pending)
    for c in free:
        c.close()
    return tally.lat, tally.errors, time.perf_counter() - t0


def _fan_out(target: Any, args_per_proc: list[tuple[Any, ...]]) -> tuple[list[float], int, float, float]:
    """Run ``target`` in one spawned process per argument tuple; (latencies, errors, wall, client CPU s)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_client_main, args=(target, a, q)) for a in args_per_proc]
    for p in procs:
        p.start()
    lat: list[float] = []
    errors = 0
    wall = cpu = 0.0
    for _ in procs:
        got, e, w, c = q.get(timeout=900)
        lat += got
        errors += e
        wall = max(wall, w)
        cpu += c
    for p in procs:
        p.join()
    return lat, errors, wall, cpu


def _pct(lat: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(lat), q) * 1000.0) if lat else float("nan")


# ---- CPU per process tree (Linux /proc) ----------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, float, str]]:
    """pid -> (ppid, CPU seconds of the process and its reaped children, command line)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[int, float, str]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read().decode("latin-1")
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("latin-1")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        # after the command: state ppid ... utime(11) stime(12) cutime(13) cstime(14), 0-based
        out[int(d)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick, cmd)
    return out


def _tree_cpu(root: int, table: dict[int, tuple[int, float, str]]) -> dict[str, float]:
    """CPU seconds of ``root`` and its descendants: 'main' (root and uvicorn workers) and 'scheduler'."""
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    got = {"main": 0.0, "scheduler": 0.0}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid not in table:
            continue
        _, cpu, cmd = table[pid]
        role = "scheduler" if pid != root and "multiprocessing" in cmd and "resource_tracker" not in cmd else "main"
        got[role] += cpu
        todo += kids.get(pid, [])
    return got


class _CpuMeter:
    """CPU deltas of the server's tree and the database's tree around a phase (``None`` pids: skipped)."""

    def __init__(self, server_pid: int, db_pid: int | None) -> None:
        self.server_pid, self.db_pid = server_pid, db_pid
        self.ok = os.path.isdir("/proc") and sys.platform.startswith("linux")

    def snap(self) -> dict[str, float]:
        if not self.ok:
            return {}
        t = _proc_table()
        srv = _tree_cpu(self.server_pid, t)
        out = {"server": srv["main"], "scheduler": srv["scheduler"]}
        if self.db_pid is not None:
            db = _tree_cpu(self.db_pid, t)
            out["postgres"] = db["main"] + db["scheduler"]
        return out

    @staticmethod
    def per_request(before: dict[str, float], after: dict[str, float], n: int, client_cpu_s: float) -> dict[str, float]:
        if not before or n <= 0:
            return {}
        out = {k: (after[k] - before[k]) * 1000.0 / n for k in before}
        out["client"] = client_cpu_s * 1000.0 / n
        return out


def _postmaster_pid(db_url: str) -> int | None:
    """The PostgreSQL cluster's postmaster, when it runs on this machine (the parent of a backend)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(db_url, poolclass=__import__("sqlalchemy.pool", fromlist=["NullPool"]).NullPool)
    try:
        with eng.connect() as c:
            backend = int(c.execute(text("SELECT pg_backend_pid()")).scalar_one())
            ppid = _proc_table().get(backend, (0, 0.0, ""))[0] if os.path.isdir("/proc") else 0
    finally:
        eng.dispose()
    return ppid or None


def _count_jobs(db_url: str, org_id: str) -> int:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    eng = create_engine(db_url, poolclass=NullPool)
    try:
        with eng.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM jobs WHERE org_id = :o"), {"o": org_id}).scalar_one())
    finally:
        eng.dispose()


# ---- the server ----------------------------------------------------------------------------------------


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
            "--workers",
            str(workers),
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


# ---- phases --------------------------------------------------------------------------------------------


def _split(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _submit_phase(
    port: int, token: str, submits: int, clients: int, connections: int, meter: _CpuMeter
) -> dict[str, float]:
    raw = HttpConnection.prepare("127.0.0.1", port, "POST", "/v1/jobs", json.dumps(_JOB).encode(), token)
    # warm-up: connections, caches, the first scheduling passes
    _run_here(_closed_loop("127.0.0.1", port, [raw], 50, 1, 201))
    return _measure(
        meter, _closed_loop, [("127.0.0.1", port, [raw], n, connections, 201) for n in _split(submits, clients)]
    )


def _heartbeat_phase(
    port: int,
    nodes: list[tuple[str, str]],
    mode: str,
    seconds: float,
    rate: float,
    clients: int,
    connections: int,
    meter: _CpuMeter,
) -> dict[str, float]:
    body = json.dumps(_HEARTBEAT).encode()
    chunks = [nodes[i::clients] for i in range(clients)]
    reqs = [
        [HttpConnection.prepare("127.0.0.1", port, "POST", f"/v1/agents/{nid}/heartbeat", body, tok) for nid, tok in ch]
        for ch in chunks
    ]
    if mode == "open":
        target: Any = _open_loop
        args: list[tuple[Any, ...]] = [("127.0.0.1", port, r, seconds, rate / clients, 200) for r in reqs]
    else:
        target = _closed_loop
        args = [("127.0.0.1", port, r, 10**9, connections, 200, seconds) for r in reqs]
    return _measure(meter, target, args)


def _measure(meter: _CpuMeter, target: Any, args: list[tuple[Any, ...]]) -> dict[str, float]:
    """One phase over the client processes: count, rate, p50/p99, errors and CPU ms per request by side.
    The rate is all requests over the slowest client process's busy time (its start-up excluded)."""
    before = meter.snap()
    lat, errors, wall, cpu = _fan_out(target, args)
    after = meter.snap()
    out = {
        "n": len(lat),
        "per_s": len(lat) / max(wall, 1e-9),
        "p50_ms": _pct(lat, 50),
        "p99_ms": _pct(lat, 99),
        "errors": errors,
    }
    return out | {f"cpu_ms_{k}": v for k, v in _CpuMeter.per_request(before, after, len(lat), cpu).items()}


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
            "id": "bench-de",
            "name": "bench",
            "operator": "bench",
            "kind": "private_cloud",
            "country": "DE",
            "region": "HE",
            "latitude": 50.1,
            "longitude": 8.7,
            "grid_zone": "DE",
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
                        "site_id": "bench-de",
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
    # every node beats once before the phases: they measure agents in their steady state (ready,
    # idle), not the first heartbeat of a just-registered node, which is part of its registration
    port = int(url.rsplit(":", 1)[1])
    body = json.dumps(_HEARTBEAT).encode()
    reqs = [HttpConnection.prepare("127.0.0.1", port, "POST", f"/v1/agents/{n}/heartbeat", body, t) for n, t in nodes]
    _, errors, _ = _run_here(_closed_loop("127.0.0.1", port, reqs, len(reqs), 8, 200))
    if errors:
        raise RuntimeError(f"{errors} first heartbeats of the {len(nodes)} registered agents failed")
    return tok, nodes


def run_api_bench(
    *,
    submits: int = 5000,
    agents: int = 10_000,
    interval_s: float = 30.0,
    seconds: float = 15.0,
    clients: int = 1,
    connections: int = 16,
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

    def submits_into(db: str, db_url: str, port: int, token: str, meter: _CpuMeter) -> None:
        r = _submit_phase(port, token, submits, clients, connections, meter)
        stored = _count_jobs(db_url, "bench") - 50  # less the warm-up's
        if stored != r["n"]:
            notes.append(f"{db}: {r['n']:.0f} submissions answered, {stored} stored")
        figures.update(
            {
                f"submit_per_s_{db}": r["per_s"],
                f"submit_p50_ms_{db}": r["p50_ms"],
                f"submit_p99_ms_{db}": r["p99_ms"],
                f"submit_errors_{db}": r["errors"] + abs(stored - r["n"]),
            }
            | {f"{k}_per_submit_{db}": v for k, v in r.items() if k.startswith("cpu_ms_")}
        )

    try:
        # --- SQLite: submissions ---
        say("sqlite: submissions")
        port = free_port()
        (tmp / "sqlite").mkdir()
        sqlite_url = f"sqlite:///{tmp / 'sqlite' / 'hexagrid.db'}"
        proc = _start_server(tmp / "sqlite", sqlite_url, port, admin, {}, workers)
        try:
            tok, _ = _setup(f"http://127.0.0.1:{port}", admin, 0)
            submits_into("sqlite", sqlite_url, port, tok, _CpuMeter(proc.pid, None))
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
            meter = _CpuMeter(proc.pid, _postmaster_pid(db_url))
            say(f"postgresql: registering {agents} agents")
            tok, nodes = _setup(f"http://127.0.0.1:{port}", admin, agents)
            say("postgresql: submissions")
            submits_into("postgres", db_url, port, tok, meter)
            if nodes:
                say("postgresql: heartbeats, closed loop")
                r = _heartbeat_phase(port, nodes, "max", seconds, 0.0, clients, connections, meter)
                figures |= {
                    "heartbeat_per_s": r["per_s"],
                    "heartbeat_max_p99_ms": r["p99_ms"],
                    "heartbeat_errors": r["errors"],
                } | {f"{k}_per_heartbeat": v for k, v in r.items() if k.startswith("cpu_ms_")}
                rate = agents / interval_s
                say(f"postgresql: heartbeats, open loop at {rate:.0f}/s")
                r = _heartbeat_phase(port, nodes, "open", seconds, rate, clients, connections, meter)
                figures |= {
                    "heartbeat_target_per_s": rate,
                    "heartbeat_achieved_per_s": r["per_s"],
                    "heartbeat_p50_ms": r["p50_ms"],
                    "heartbeat_p99_ms": r["p99_ms"],
                    "heartbeat_errors": figures["heartbeat_errors"] + r["errors"],
                    "agents": agents,
                } | {f"{k}_per_heartbeat_open": v for k, v in r.items() if k.startswith("cpu_ms_")}
        finally:
            _stop(proc)
            drop_database(admin_url, db_url)
    finally:
        if pg is not None:
            pg.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return ApiBenchResult(figures, notes)
