"""The agent's loops against an in-process control plane: real job processes, fake network."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from hexagrid.agent.agent import Agent
from hexagrid.agent.client import AgentClient
from hexagrid.agent.config import build_config
from hexagrid.agent.runner import group_members
from hexagrid.domain import CATALOG
from hexagrid.energy.power import gpu_power_w


def make_agent(cp: Any, tmp_path: Path, clock: Callable[[], float] | None = None, **flags: Any) -> Agent:
    opts: dict[str, Any] = {
        "accelerator": "H100",
        "gpus": 2,
        "timezone": "UTC",
        "name": "node-a",
        "state_dir": tmp_path / "state",
        "allow_root": True,
        **flags,
    }
    config = build_config(server="http://control-plane.test", token="provider-token", site="acme", **opts)
    client = AgentClient(config.server_url, config.token, transport=httpx.MockTransport(cp.handler))
    return Agent(config, client=client, clock=clock)


def drive(agent: Agent, body: Callable[[], Awaitable[None]], *, stop: str = "drain") -> int:
    """Run the agent and ``body`` together; end the agent by drain (SIGTERM path) or detach (SIGQUIT path)."""

    async def main() -> int:
        task = asyncio.create_task(agent.run())
        try:
            await body()
        finally:
            (agent.drain if stop == "drain" else agent.detach)()
        return await asyncio.wait_for(task, 15)

    return asyncio.run(main())


def test_runs_a_job_end_to_end(control_plane, tmp_path, until) -> None:
    cp = control_plane
    agent = make_agent(cp, tmp_path)

    async def body() -> None:
        await until(lambda: cp.heartbeats, what="first heartbeat")
        cp.assign(
            "j-1",
            "echo hello; echo ünïcode; echo err >&2; sleep 0.3; exit 0",
            gpus=(1,),
            env={"X": "1"},
            setup="echo setting-up",
        )
        await until(lambda: any(h["running"] and h["running"][0]["pid"] for h in cp.heartbeats), what="running")
        busy = next(h for h in cp.heartbeats if h["running"] and h["running"][0]["pid"])
        h100 = CATALOG["H100"]
        assert busy["telemetry"]["power_source"] == "estimate"
        assert busy["telemetry"]["gpus"][1]["power_w"] == round(float(gpu_power_w(h100.tdp_w, h100.idle_w, 0.85)), 3)
        assert busy["telemetry"]["gpus"][0]["power_w"] == h100.idle_w
        await until(lambda: cp.final("j-1"), what="final state")

    assert drive(agent, body) == 0
    reg = cp.registrations[0]
    assert (reg["accelerator"], reg["gpus"], reg["detected_by"], reg["site_id"]) == ("H100", 2, "declared", "acme")
    assert [s[2] for s in cp.states] == ["running", "succeeded"]
    assert cp.final("j-1") == ("succeeded", 0, None)
    assert cp.text("j-1") == "setting-up\nhello\nünïcode\n"
    assert cp.text("j-1", stream="stderr") == "err\n"
    assert not list((tmp_path / "state" / "work").iterdir())  # the attempt's directory is removed once reported


def test_failure_exit_code_and_stale_redelivery_ignored(control_plane, tmp_path, until) -> None:
    cp = control_plane
    agent = make_agent(cp, tmp_path)

    async def body() -> None:
        cp.assign("j-2", "exit 42")
        await until(lambda: cp.final("j-2"), what="final state")
        cp.assign("j-2", "echo again")  # a late duplicate delivery of an attempt already done
        await asyncio.sleep(0.5)

    drive(agent, body)
    assert cp.final("j-2") == ("failed", 42, "exit code 42")
    assert [s for s in cp.states if s[0] == "j-2"][-1][2] == "failed"
    assert len([s for s in cp.states if s[0] == "j-2" and s[2] == "running"]) == 1


def test_cancel_kills_the_group_after_grace(control_plane, tmp_path, until) -> None:
    cp = control_plane
    agent = make_agent(cp, tmp_path)
    pids: list[int] = []

    async def body() -> None:
        cp.assign("j-3", "trap '' TERM; sleep 30 & sleep 30; wait", grace_s=0.5)
        rec = await until(lambda: agent.state.jobs.get("j-3#1"), what="job started")
        await until(lambda: len(group_members(rec.pid)) >= 3, what="children")
        pids.extend(group_members(rec.pid))
        cp.stop("j-3", reason="cancelled", grace_s=0.5)
        await until(lambda: cp.final("j-3"), what="cancelled")

    drive(agent, body)
    assert cp.final("j-3")[0] == "cancelled"
    for pid in pids:  # SIGTERM was ignored, SIGKILL after the grace period took everything
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_server_down_while_the_job_ends(control_plane, tmp_path, until) -> None:
    cp = control_plane
    agent = make_agent(cp, tmp_path)

    async def body() -> None:
        cp.assign("j-4", "echo before; sleep 0.6; echo after; exit 3")
        await until(lambda: "before" in cp.text("j-4"), what="first log line")
        cp.down = True
        rec = agent.state.jobs["j-4#1"]
        await until(lambda: rec.ended, what="job end while the server is down")
        await asyncio.sleep(0.5)  # retries fail meanwhile
        assert cp.final("j-4") is None
        cp.down = False
        await until(lambda: cp.final("j-4"), what="end reported after reconnect")

    drive(agent, body)
    assert cp.final("j-4") == ("failed", 3, "exit code 3")
    assert cp.text("j-4") == "before\nafter\n"


def test_reregisters_when_the_server_forgets_the_node(control_plane, tmp_path, until) -> None:
    cp = control_plane
    agent = make_agent(cp, tmp_path)

    async def body() -> None:
        await until(lambda: cp.heartbeats, what="heartbeat")
        cp.node_tokens.clear()  # e.g. the server's database was reset
        await until(lambda: len(cp.registrations) >= 2, what="re-register")
        n = len(cp.heartbeats)
        await until(lambda: len(cp.heartbeats) > n, what="heartbeats again")

    drive(agent, body)
    assert cp.registrations[1]["node_id"] == "n-1"  # same node id


def test_gpus_are_never_shared_between_concurrent_jobs(control_plane, tmp_path, until) -> None:
    cp = control_plane
    agent = make_agent(cp, tmp_path)
    trace = tmp_path / "trace"
    trace.mkdir()
    job = (
        f'echo "$(date +%s.%N) $CUDA_VISIBLE_DEVICES" > {trace}/$HEXAGRID_JOB_ID.start; sleep 0.4; '
        f'echo "$(date +%s.%N)" > {trace}/$HEXAGRID_JOB_ID.end'
    )

    async def body() -> None:
        cp.assign("a", job, gpus=(0,))
        cp.assign("b", job, gpus=(0, 1))  # needs GPU 0 too: must wait for a
        cp.assign("c", job, gpus=(1,))
        await until(lambda: all(cp.final(j) for j in "abc"), what="all three")

    drive(agent, body)
    spans = {}
    for j in "abc":
        t0, gpus = (trace / f"{j}.start").read_text().split()
        spans[j] = (float(t0), float((trace / f"{j}.end").read_text()), {int(g) for g in gpus.split(",")})
    for x in "abc":
        for y in "abc":
            if x < y and spans[x][2] & spans[y][2]:
                assert spans[x][1] <= spans[y][0] or spans[y][1] <= spans[x][0], f"{x} and {y} overlap on a GPU"
    assert all(cp.final(j)[0] == "succeeded" for j in "abc")
    a, c = spans["a"], spans["c"]
    assert a[0] < c[1] and c[0] < a[1]  # disjoint GPUs: a and c ran at the same time


def test_window_close_preempts_before_the_owner_needs_the_machine(control_plane, tmp_path, until) -> None:
    cp = control_plane
    # a window Mon-Sun 00:00-12:00 UTC, and a clock that starts 2.5 s before it closes
    close = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()
    t0 = time.time()
    agent = make_agent(cp, tmp_path, clock=lambda: close - 2.5 + (time.time() - t0), available="Mon-Sun 00:00-12:00")
    seen: dict[str, Any] = {}

    async def body() -> None:
        cp.assign("w", "trap 'echo saving; exit 0' TERM; while :; do sleep 0.05; done", grace_s=1.0)
        seen["rec"] = await until(lambda: agent.state.jobs.get("w#1"), what="started")
        await until(lambda: cp.final("w"), what="preempted at window close")
        await until(lambda: cp.heartbeats and not cp.heartbeats[-1]["available"], what="unavailable heartbeat")
        await until(lambda: agent.clock() > close, what="window closed")
        cp.assign("late", "echo should-not-run", grace_s=1.0)
        await until(lambda: cp.final("late"), what="refusal")

    drive(agent, body)
    state, _, message = cp.final("w")
    assert state == "preempted" and "availability window closes" in message
    assert "saving" in cp.text("w")  # the stop signal came early enough to save state
    ended_on_window_clock = close - 2.5 + (seen["rec"].ended_at_s - t0)
    assert ended_on_window_clock <= close + 0.25  # the machine was free at the close (within one supervise tick)
    assert cp.final("late")[0] == "preempted" and "outside its availability window" in cp.final("late")[2]
    assert cp.registrations[0]["availability"] == "Mon-Sun 00:00-12:00"


def test_drain_preempts_and_reports_before_exit(control_plane, tmp_path, until) -> None:
    cp = control_plane
    agent = make_agent(cp, tmp_path)

    async def body() -> None:
        cp.assign("d", "sleep 30", grace_s=2.0)
        await until(lambda: any(s[2] == "running" for s in cp.states), what="running")

    assert drive(agent, body, stop="drain") == 0
    assert cp.final("d")[0] == "preempted"
    assert not agent.state.jobs


def test_restart_readopts_running_jobs_and_reports_ends_found_on_disk(control_plane, tmp_path, until) -> None:
    cp = control_plane
    first = make_agent(cp, tmp_path)
    pgids: dict[str, int] = {}

    async def body1() -> None:
        cp.assign("quick", "sleep 0.3; echo quick-done; exit 5", gpus=(0,))
        cp.assign("long", "echo long-start; sleep 1.5; echo long-done", gpus=(1,))
        await until(lambda: len([s for s in cp.states if s[2] == "running"]) == 2, what="both running")
        pgids.update({k: r.pid for k, r in first.state.jobs.items()})

    drive(first, body1, stop="detach")  # the agent goes away; its jobs keep running
    assert cp.final("quick") is None and cp.final("long") is None
    time.sleep(0.6)  # "quick" ends while no agent is there; "long" is still running
    assert group_members(pgids["long#1"])

    second = make_agent(cp, tmp_path)

    async def body2() -> None:
        await until(lambda: cp.final("quick") and cp.final("long"), what="both ends")

    drive(second, body2)
    assert cp.final("quick") == ("failed", 5, "exit code 5")  # read from the exit-status file
    assert cp.text("quick") == "quick-done\n"
    assert cp.final("long") == ("succeeded", 0, None)  # re-adopted and watched to its end
    assert cp.text("long") == "long-start\nlong-done\n"
    assert cp.registrations[1]["node_id"] == "n-1"


def test_a_second_agent_cannot_share_the_state_dir(control_plane, tmp_path, until) -> None:
    import pytest

    from hexagrid.errors import InputError

    cp = control_plane
    first = make_agent(cp, tmp_path)
    second = make_agent(cp, tmp_path)

    async def body() -> None:
        await until(lambda: cp.heartbeats, what="heartbeat")
        with pytest.raises(InputError, match=f"in use by another agent \\(pid {os.getpid()}\\)"):
            await second.run()

    drive(first, body)


def test_a_refused_registration_is_one_clear_error(control_plane, tmp_path) -> None:
    import pytest

    from hexagrid.agent.client import ServerRejected

    cp = control_plane
    config = build_config(
        server="http://control-plane.test",
        token="wrong-token",
        site="acme",
        accelerator="H100",
        gpus=1,
        state_dir=tmp_path / "state",
        allow_root=True,
        timezone="UTC",
    )
    agent = Agent(
        config, client=AgentClient(config.server_url, config.token, transport=httpx.MockTransport(cp.handler))
    )
    with pytest.raises(ServerRejected, match=r"^register: the server answered 401: bad token$"):
        asyncio.run(asyncio.wait_for(agent.run(), 15))


def test_jobs_are_supervised_while_the_server_is_unreachable_at_start(control_plane, tmp_path, until) -> None:
    cp = control_plane
    first = make_agent(cp, tmp_path)

    async def body1() -> None:
        cp.assign("s", "sleep 0.8; exit 9")
        await until(lambda: any(s[2] == "running" for s in cp.states), what="running")

    drive(first, body1, stop="detach")
    cp.down = True  # the restarted agent cannot register ...
    second = make_agent(cp, tmp_path)

    async def body2() -> None:
        # ... yet it watches the re-adopted job and records its end
        await until(lambda: second.state.jobs.get("s#1") and second.state.jobs["s#1"].ended, what="end seen offline")
        assert second.node_id is None
        cp.down = False
        await until(lambda: cp.final("s"), what="reported once the server is back")

    drive(second, body2)
    assert cp.final("s") == ("failed", 9, "exit code 9")


def test_server_field_errors_are_one_readable_line() -> None:
    from hexagrid.agent.client import _detail

    resp = httpx.Response(404, json={"detail": [{"loc": ["body", "site_id"], "msg": "unknown site 'x'; known: fr1"}]})
    assert _detail(resp) == "site_id: unknown site 'x'; known: fr1"
    assert _detail(httpx.Response(401, json={"detail": "bad token"})) == "bad token"
    assert _detail(httpx.Response(502, text="<html>bad gateway</html>")) == "<html>bad gateway</html>"


def test_the_window_close_caps_a_longer_server_grace(control_plane, tmp_path, until) -> None:
    cp = control_plane
    close = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()
    t0 = time.time()
    agent = make_agent(cp, tmp_path, clock=lambda: close - 3.0 + (time.time() - t0), available="Mon-Sun 00:00-12:00")
    seen: dict[str, Any] = {}

    async def body() -> None:
        cp.assign("g", "trap '' TERM; while :; do sleep 0.05; done", grace_s=1.0)  # ignores SIGTERM
        seen["rec"] = await until(lambda: agent.state.jobs.get("g#1"), what="started")
        cp.stop("g", reason="preempted", grace_s=30.0)  # the server allows 30 s, the window only 3
        await until(lambda: cp.final("g"), timeout_s=15, what="stopped")

    drive(agent, body)
    assert cp.final("g")[0] == "preempted"
    assert seen["rec"].signals_sent == ["SIGTERM", "SIGKILL"]
    # killed by the close, not 30 s later; the end is noticed at the next supervise tick (0.2 s)
    assert close - 3.0 + (seen["rec"].ended_at_s - t0) <= close + 0.5
