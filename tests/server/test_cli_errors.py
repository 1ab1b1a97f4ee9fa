"""Server-side CLI errors are one line and exit status 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hexagrid.server.localpg import free_port


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("HEXAGRID_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "hexagrid.cli.main", *args], capture_output=True, text=True, timeout=60, env=full
    )


def test_server_bad_database_and_files(tmp_path: Path) -> None:
    port = str(free_port())
    for url, needle in (
        ("mysql://x/y", "unsupported database URL scheme in 'mysql'"),
        (f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x", "cannot connect or migrate"),
    ):
        r = _run("server", "--port", port, "--data-dir", str(tmp_path), "--database-url", url)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr
    r = _run(
        "server", "--port", port, "--data-dir", str(tmp_path), "--bootstrap-admin-token-file", str(tmp_path / "nope")
    )
    assert r.returncode == 2 and "--bootstrap-admin-token-file" in r.stderr and "Traceback" not in r.stderr


def test_client_commands_without_a_token_or_server(tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text("resources: {accelerators: L40S:1}\nrun: 'true'\n")
    r = _run("submit", str(spec), env={"HEXAGRID_CONFIG": str(tmp_path / "none.toml")})
    assert r.returncode == 2 and "no API token" in r.stderr
    r = _run("jobs", "--url", f"http://127.0.0.1:{free_port()}", "--token", "hxg_x")
    assert r.returncode == 2 and "cannot reach the Hexagrid server" in r.stderr and "Traceback" not in r.stderr
    r = _run("submit", str(tmp_path / "missing.yaml"), "--token", "hxg_x")
    assert r.returncode == 2 and "missing.yaml: cannot read" in r.stderr
    r = _run("up", "--gpus", "2", "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 2 and "--gpus and --accelerator go together" in r.stderr
