"""``hexagrid server`` (the control plane) and ``hexagrid up`` (server + SQLite + one local agent)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from hexagrid.cli.common import console, err_console, fail

__all__ = ["register", "server", "up"]


def server(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8642, "--port", help="TCP port."),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="Where the SQLite database lives (default: the user's data dir)."
    ),
    database_url: str = typer.Option(
        None,
        "--database-url",
        envvar="HEXAGRID_DATABASE_URL",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: SQLite).",
    ),
    scenario: str = typer.Option(None, "--scenario", help="Scenario name or file whose sites and tenants to load."),
    bootstrap_admin_token_file: Path = typer.Option(
        None,
        "--bootstrap-admin-token-file",
        help="File holding an admin token to create on first start (or set HEXAGRID_BOOTSTRAP_ADMIN_TOKEN).",
    ),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Server processes (one of them schedules)."),
    no_scheduler: bool = typer.Option(False, "--no-scheduler", help="Serve the API without the scheduling loop."),
) -> None:
    """Run the control plane: REST API, agent protocol and the live scheduling loop."""
    import uvicorn

    from hexagrid.server.settings import Settings

    env = {"HEXAGRID_HOST": host, "HEXAGRID_PORT": str(port)}
    if data_dir is not None:
        env["HEXAGRID_DATA_DIR"] = str(data_dir)
    if database_url:
        env["HEXAGRID_DATABASE_URL"] = database_url
    if scenario:
        env["HEXAGRID_SCENARIO"] = scenario
    if no_scheduler:
        env["HEXAGRID_SCHEDULER_ENABLED"] = "false"
    if bootstrap_admin_token_file is not None:
        try:
            env["HEXAGRID_BOOTSTRAP_ADMIN_TOKEN"] = bootstrap_admin_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"--bootstrap-admin-token-file: cannot read {bootstrap_admin_token_file}: {exc.strerror}")
    os.environ.update(env)
    settings = Settings()
    # check the database (and migrate it) before uvicorn starts, so a bad URL or an unreachable
    # database is one line and exit status 2, not a traceback from the app's startup
    from hexagrid.server.db import Database, upgrade_database

    db = Database(settings.url, pool_size=1)
    try:
        upgrade_database(db.engine)
    finally:
        db.dispose()
    err_console.print(
        f"hexagrid server on http://{host}:{port} ({'PostgreSQL' if settings.url.startswith('postgresql') else 'SQLite ' + str(settings.data_dir)})"
    )
    uvicorn.run(
        "hexagrid.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


def _detect_gpus() -> tuple[str, int] | None:
    """This machine's GPUs by NVML (the agent's detection), or None when there are none usable."""
    from hexagrid.agent.gpus import NvmlReader, detect_gpus
    from hexagrid.errors import InputError

    try:
        found = detect_gpus(NvmlReader.open())
    except InputError as exc:
        err_console.print(f"GPU detection: {exc}")
        return None
    return found.accelerator, found.count


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"the server exited with status {proc.returncode} during start (see its messages above)")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    fail(f"the server did not answer {url}/healthz within {timeout_s:.0f} s")


def local_site(site_id: str, accelerator: str, gpus: int, country: str) -> dict[str, object]:
    """This machine as a private-cloud site with one pool (its price 0: it is the user's own)."""
    return {
        "id": site_id,
        "name": f"This machine ({site_id})",
        "operator": "local",
        "kind": "private_cloud",
        "country": country,
        "region": "local",
        "latitude": 48.86,
        "longitude": 2.35,
        "grid_zone": country,
        "power_mw": 1.0,
        "cooling": "air",
        "pue": 1.5,
        "access": "both",
        "price_eur_per_gpu_h": {accelerator: 0.0},
        "pools": [
            {"id": f"{accelerator.lower()}-{gpus}g", "accelerator": accelerator, "gpus_per_node": gpus, "nodes": 1}
        ],
        "estimates": {
            "pue": "estimate: a typical air-cooled room",
            "power_mw": "estimate: an upper bound for one machine",
        },
    }


def up(
    port: int = typer.Option(8642, "--port", help="TCP port of the local server."),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="Database, tokens and agent state (default: the user's data dir)."
    ),
    gpus: int = typer.Option(
        None, "--gpus", min=1, max=16, help="Declare this machine's GPU count (default: detect by NVML)."
    ),
    accelerator: str = typer.Option(None, "--accelerator", help="Declare the GPU model, a catalog name such as L40S."),
    country: str = typer.Option("FR", "--country", help="Country of this machine (ISO code), for residency rules."),
    allow_root: bool = typer.Option(False, "--allow-root", help="Let the local agent run jobs as root."),
    no_agent: bool = typer.Option(False, "--no-agent", help="Start only the server."),
) -> None:
    """Start everything on this machine: server + SQLite + one local agent; configure the CLI (``hexagrid submit`` works at once)."""
    from hexagrid.client import HexagridClient, write_config
    from hexagrid.domain import CATALOG
    from hexagrid.server.settings import default_data_dir

    data = (data_dir or default_data_dir()).resolve()
    data.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    secret_file = data / "admin.token"
    if not secret_file.exists():
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("hxg_" + secrets.token_urlsafe(32))
    admin = secret_file.read_text().strip()
    if accelerator is not None:
        match = next((k for k in CATALOG if k.lower() == accelerator.lower()), None)
        if match is None:
            fail(f"--accelerator: unknown accelerator {accelerator!r}; known: {', '.join(CATALOG)}")
        accelerator = match
    if (gpus is None) != (accelerator is None):
        fail("--gpus and --accelerator go together (declare both, or neither to detect by NVML)")
    declared = (accelerator, gpus) if accelerator and gpus else None
    found = declared or (None if no_agent else _detect_gpus())
    env = os.environ | {"HEXAGRID_BOOTSTRAP_ADMIN_TOKEN": admin, "HEXAGRID_DATA_DIR": str(data)}
    env.pop("HEXAGRID_DATABASE_URL", None)
    srv = subprocess.Popen(
        [sys.executable, "-m", "hexagrid.cli.main", "server", "--port", str(port), "--data-dir", str(data)], env=env
    )
    procs: list[subprocess.Popen[bytes]] = [srv]
    try:
        _wait_healthy(url, srv)
        cfg = write_config(url, admin)
        agent_cmd = None
        with HexagridClient(url, admin) as c:
            if found:
                acc, n = found
                site_id = "local"
                if not any(s["id"] == site_id for s in c.sites()):
                    c.put_site(local_site(site_id, acc, n, country.upper()))
                prov_file = data / "provider.token"
                if not prov_file.exists():
                    if not any(o["id"] == "local-provider" for o in c.request("GET", "/v1/orgs")["orgs"]):
                        c.create_org({"id": "local-provider", "name": "This machine", "kind": "provider"})
                    tok = c.create_token("local-provider", ["provider"], "hexagrid up")
                    fd = os.open(prov_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w") as fh:
                        fh.write(tok)
                agent_cmd = [
                    sys.executable,
                    "-m",
                    "hexagrid.cli.main",
                    "agent",
                    "--server",
                    url,
                    "--site",
                    site_id,
                    "--state-dir",
                    str(data / "agent"),
                    "--work-dir",
                    str(data / "agent" / "work"),
                ]
                if declared:
                    agent_cmd += ["--accelerator", acc, "--gpus", str(n)]
                if allow_root:
                    agent_cmd.append("--allow-root")
        if agent_cmd and not no_agent:
            procs.append(subprocess.Popen(agent_cmd, env=env | {"HEXAGRID_TOKEN": prov_file.read_text().strip()}))
        console.print(f"[bold]Hexagrid is up[/] at {url} (SQLite in {data})")
        console.print(f"CLI configured in {cfg}: try [bold]hexagrid submit job.yaml[/], [bold]hexagrid jobs[/]")
        if found and not no_agent:
            console.print(
                f"local agent: {found[1]} x {found[0]} at site 'local'"
                + ("" if allow_root or os.geteuid() != 0 else " (running as root: jobs need --allow-root)")
            )
        elif not no_agent:
            console.print("no GPU detected: no local agent (declare one with --gpus N --accelerator NAME)")
        console.print("Ctrl-C stops everything.")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        dead = next(p for p in procs if p.poll() is not None)
        fail(f"{'the server' if dead is srv else 'the local agent'} exited with status {dead.returncode}")
    except KeyboardInterrupt:
        pass
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def register(app: typer.Typer) -> None:
    app.command(name="server")(server)
    app.command(name="up")(up)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps({"commands": ["server", "up"]}))


def bench_api(
    submits: int = typer.Option(5000, "--submits", min=100, help="Submissions per database."),
    agents: int = typer.Option(10_000, "--agents", min=0, help="Simulated agents (0: skip the heartbeat phases)."),
    interval_s: float = typer.Option(30.0, "--interval-s", help="Heartbeat interval of the simulated agents."),
    seconds: float = typer.Option(15.0, "--seconds", min=1, help="Length of each heartbeat phase."),
    clients: int = typer.Option(1, "--clients", min=1, max=32, help="Client processes (one event loop each)."),
    connections: int = typer.Option(
        16, "--connections", "--threads", min=1, max=1024, help="Keep-alive connections per client process."
    ),
    no_postgres: bool = typer.Option(False, "--no-postgres", help="SQLite only."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Server processes for the PostgreSQL phases."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Submissions/s with p50/p99 on SQLite and PostgreSQL, and heartbeats/s from N simulated agents."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from hexagrid.benchmarks.api import run_api_bench
    from hexagrid.cli.common import print_json

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True
    ) as prog:
        task = prog.add_task("starting", total=None)
        res = run_api_bench(
            submits=submits,
            agents=agents,
            interval_s=interval_s,
            seconds=seconds,
            clients=clients,
            connections=connections,
            postgres=not no_postgres,
            workers=workers,
            progress=lambda phase: prog.update(task, description=phase),
        )
    for note in res.notes:
        err_console.print(note)
    if as_json:
        print_json({k: round(v, 3) for k, v in res.figures.items()})
        return
    t = Table("figure", "value", title="hexagrid bench api")
    for k, v in res.figures.items():
        t.add_row(k, f"{v:,.2f}")
    console.print(t)
