"""``hexagrid up`` end to end: server + SQLite + the local agent, then the client CLI against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hexagrid.server.localpg import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hexagrid.cli.main", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_up_then_submit_runs_a_job_on_the_local_agent(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEXAGRID_")}
    env |= {"HEXAGRID_CONFIG": str(tmp_path / "config.toml"), "HEXAGRID_TICK_S": "0.5"}
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hexagrid.cli.main",
            "up",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--gpus",
            "1",
            "--accelerator",
            "L40S",
            "--allow-root",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "config.toml").exists() and time.monotonic() < deadline:
            assert up.poll() is None, up.stdout.read() if up.stdout else ""
            time.sleep(0.2)
        assert (tmp_path / "config.toml").stat().st_mode & 0o777 == 0o600
        spec = tmp_path / "job.yaml"
        spec.write_text(
            "name: hello\nresources: {accelerators: L40S:1}\nrun: echo hello from $HEXAGRID_JOB_ID on GPU $CUDA_VISIBLE_DEVICES\n"
        )
        r = _cli(env, "submit", str(spec), "--json")
        assert r.returncode == 0, r.stderr
        jid = json.loads(r.stdout)["id"]
        state = ""
        while time.monotonic() < deadline + 30:
            r = _cli(env, "jobs", "--json")
            assert r.returncode == 0, r.stderr
            rows = json.loads(r.stdout)
            row = next(j for j in rows if j["id"] == jid)
            assert {"id", "name", "state", "site"} <= set(row)
            state = row["state"]
            if state in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        assert state == "succeeded" and row["site"] == "local"
        logs = _cli(env, "logs", jid)
        assert logs.returncode == 0 and f"hello from {jid} on GPU 0" in logs.stdout
        bad = tmp_path / "bad.yaml"
        bad.write_text("resources: {accelerators: H900:1}\nrun: x\n")
        r = _cli(env, "submit", str(bad))
        assert r.returncode == 2 and r.stderr.startswith(
            f"hexagrid: error: {bad}: resources.accelerators: unknown accelerator 'H900'"
        )
        r = _cli(env, "explain", jid, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["state"] == "succeeded"
        r = _cli(env, "usage", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["total"]["attempts"] == 1
        r = _cli(env, "cancel", "j-doesnotexist")
        assert r.returncode == 2 and "not found" in r.stderr
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=20)
        except subprocess.TimeoutExpired:
            up.kill()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
