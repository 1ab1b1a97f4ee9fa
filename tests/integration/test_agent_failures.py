"""Failures with real server and agent processes: an agent killed with -9, a server restart, a window closing.

Parametrised over SQLite and PostgreSQL through the ``server`` fixture; helpers come from test_agent_e2e.py.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_agent_e2e import Federation, federations, live_pids, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def federation(server: Callable[..., Any], tmp_path: Path) -> Iterator[Callable[..., Federation]]:
    yield from federations(server, tmp_path)


def test_kill9_agent_job_reruns_elsewhere_and_the_restarted_agent_stops_the_stale_attempt(federation) -> None:
    fed = federation()
    a = fed.agent("node-a")
    # attempt 1 would run long; any later attempt finishes quickly
    jid = fed.submit(
        'echo "attempt $HEXAGRID_ATTEMPT in $(pwd)"; [ "$HEXAGRID_ATTEMPT" = 1 ] && sleep 120; echo done',
        name="survivor",
    )
    fed.wait_state(jid, ("running",))
    pgid = wait_for(lambda: a.jobs().get(f"{jid}#1", {}).get("pid"), 30, "attempt 1 started", fed.debug)
    fed.agent("node-b")
    a.kill9()
    wait_for(lambda: fed.node("node-a", "lost"), 30, "node-a marked lost", fed.debug)
    j = fed.wait_state(jid, ("succeeded", "failed"), timeout_s=60)
    assert (j["state"], j["exit_code"], j["attempt"]) == ("succeeded", 0, 2), j
    assert any("lost" in (e.get("message") or "") for e in fed.events(jid)), fed.events(jid)
    assert "/node-b/" in fed.logs(jid, attempt=2) and fed.logs(jid, attempt=2).endswith("done\n")
    # the job kept running on node-a's host while its agent was dead ...
    assert live_pids(pgid), "attempt 1 should still be running on node-a's host"
    # ... and the restarted agent re-adopts it, learns from the server it is stale, and stops it
    a.start()
    wait_for(lambda: not live_pids(pgid), 30, f"stale attempt 1 (pgid {pgid}) stopped", fed.debug)
    wait_for(lambda: f"{jid}#1" not in a.jobs(), 15, "attempt 1 dropped from node-a's state", fed.debug)
    assert fed.job(jid)["state"] == "succeeded" and fed.job(jid)["attempt"] == 2  # the stale report changed nothing
    wait_for(lambda: fed.node("node-a", "ready"), 30, "node-a ready again", fed.debug)


def test_server_restart_mid_job_the_end_is_still_recorded(federation) -> None:
    fed = federation(HEXAGRID_LOST_AFTER_S="20")  # the restart must not count as a lost node
    a = fed.agent("node-a")
    jid = fed.submit("echo before; sleep 2; echo after; exit 7", name="across-restart")
    fed.wait_state(jid, ("running",))
    wait_for(lambda: fed.logs(jid) == "before\n", 30, "first log line", fed.debug)
    fed.server.kill()  # a crash, not a clean stop
    key = f"{jid}#1"
    wait_for(lambda: a.jobs().get(key, {}).get("ended"), 30, "the job ends while the server is down", fed.debug)
    assert a.proc is not None and a.proc.poll() is None  # the agent waits it out
    fed.server.start()
    j = fed.wait_state(jid, ("succeeded", "failed"), timeout_s=60)
    assert (j["state"], j["exit_code"], j["attempt"]) == ("failed", 7, 1), j
    assert fed.logs(jid) == "before\nafter\n"


CHECKPOINTING_JOB = """
import os, pathlib, signal, sys, time
ck = pathlib.Path(os.environ["CKPT"])
step = int(ck.read_text()) if ck.exists() else 0
print(f"attempt {os.environ['HEXAGRID_ATTEMPT']} starts at step {step}", flush=True)
def save(*_):
    ck.write_text(str(step))
    print(f"checkpointed at step {step}", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, save)
while step < 400:
    step += 1
    time.sleep(0.05)
print(f"finished at step {step}", flush=True)
"""


def test_window_close_preempts_and_the_job_resumes_elsewhere(federation, tmp_path: Path) -> None:
    fed = federation()
    # node-a's window closes ~20 s from now. Windows have minute granularity, so the agent's window clock is
    # shifted (HEXAGRID_CLOCK_OFFSET_S, < 60 s) to put that instant on a minute boundary; see docs/agent.md.
    real_close = time.time() + 20.0
    shifted_close = math.ceil(real_close / 60.0) * 60.0
    end = datetime.fromtimestamp(shifted_close, UTC)
    window = f"Mon-Sun {end - timedelta(hours=1):%H:%M}-{end:%H:%M}"
    offset = f"{shifted_close - real_close:.3f}"
    a = fed.agent("node-a", "--available", window, "--timezone", "UTC", env={"HEXAGRID_CLOCK_OFFSET_S": offset})
    script = tmp_path / "train.py"
    script.write_text(CHECKPOINTING_JOB)
    ckpt = tmp_path / "shared-storage" / "ckpt"
    ckpt.parent.mkdir()
    jid = fed.submit(
        f"exec {sys.executable} {script}",
        name="resumable",
        envs={"CKPT": str(ckpt)},
        checkpoint={"signal": "SIGTERM"},
        preemptible=True,
    )
    fed.wait_state(jid, ("running",))
    assert wait_for(lambda: f"{jid}#1" in a.jobs(), 30, "attempt 1 on node-a", fed.debug)
    fed.agent("node-b")  # always available
    j = fed.wait_state(jid, ("succeeded", "failed"), timeout_s=90)
    assert j["state"] == "succeeded" and j["attempt"] >= 2, j
    first = fed.logs(jid, attempt=1)
    assert first.startswith("attempt 1 starts at step 0\n") and "checkpointed at step" in first, first
    saved = int(first.split("checkpointed at step ")[1].split()[0])
    last = fed.logs(jid, attempt=j["attempt"])
    assert saved > 0 and f"starts at step {saved}\n" in last and last.endswith("finished at step 400\n"), last
    events = fed.events(jid)
    assert any(e["attempt"] == 1 and "availability window" in (e.get("message") or "") for e in events), events
    node = wait_for(lambda: fed.node("node-a"), 10, "node-a")
    assert node["available"] is False  # the agent says it is outside its window
