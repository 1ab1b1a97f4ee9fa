"""Real server processes (SQLite and PostgreSQL) and real ``hexagrid agent`` processes on loopback.

Jobs are real shell and Python commands. These tests check what users rely on: logs arrive, exit codes
are right, two jobs never hold the same GPU of a node at once, and a cancelled job leaves no process
(one test, so that each database pays for one server start).
The failure cases (kill -9, server restart, window closing) are in test_agent_failures.py, which
imports the helpers below.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITE = "test-fr"


def wait_for(cond: Callable[[], Any], timeout_s: float, what: str, debug: Callable[[], str] = lambda: "") -> Any:
    """Poll ``cond`` until truthy (returned); fail after ``timeout_s`` with ``debug()`` output."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{debug()}")
        time.sleep(0.1)


def live_pids(pgid: int) -> list[int]:
    """Non-zombie processes of a process group, from /proc."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                raw = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            fields = raw[raw.rfind(b")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                out.append(int(name))
    return out


def alive(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return raw[raw.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


@dataclass
class AgentProcess:
    """A ``hexagrid agent`` subprocess with its own state and work directories."""

    name: str
    server_url: str
    token: str
    root: Path
    extra: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def state_dir(self) -> Path:
        return self.root / self.name / "state"

    @property
    def log(self) -> Path:
        return self.root / self.name / "agent.log"

    def start(self) -> AgentProcess:
        (self.root / self.name).mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "hexagrid.cli.main",
            "agent",
            "--server",
            self.server_url,
            "--token",
            self.token,
            "--site",
            SITE,
            "--accelerator",
            "L40S",
            "--gpus",
            "2",
            "--name",
            self.name,
            "--state-dir",
            str(self.state_dir),
            "--allow-root",
            "--heartbeat-s",
            "0.5",
            *self.extra,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEXAGRID_")} | self.env
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def jobs(self) -> dict[str, Any]:
        """The agent's state file: attempts it holds (key ``job_id#attempt``)."""
        try:
            return dict(json.loads((self.state_dir / "state.json").read_text())["jobs"])
        except (OSError, ValueError, KeyError):
            return {}

    def tail(self) -> str:
        return f"--- {self.name} log ---\n" + (
            self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        )


@dataclass
class Federation:
    """A server with one site, a provider, a tenant, and the agents started on it."""

    server: Any
    provider_token: str
    tenant_token: str
    root: Path
    agents: list[AgentProcess] = field(default_factory=list)

    def agent(self, name: str, *extra: str, env: dict[str, str] | None = None, wait: bool = True) -> AgentProcess:
        a = AgentProcess(name, self.server.url, self.provider_token, self.root, list(extra), env or {}).start()
        self.agents.append(a)
        if wait:
            wait_for(lambda: self.node(name, "ready"), 60, f"node {name} ready", self.debug)
        return a

    def node(self, name: str, state: str | None = None) -> dict[str, Any] | None:
        r = self.server.client().get("/v1/nodes")
        for n in r.json()["nodes"]:
            if n["name"] == name and (state is None or n["state"] == state):
                return dict(n)
        return None

    def submit(self, run: str, *, name: str = "job", gpus: int = 1, **extra: Any) -> str:
        doc = {"name": name, "resources": {"accelerators": f"L40S:{gpus}"}, "run": run, **extra}
        r = self.server.client(self.tenant_token).post("/v1/jobs", json=doc)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def job(self, jid: str) -> dict[str, Any]:
        r = self.server.client(self.tenant_token).get(f"/v1/jobs/{jid}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def events(self, jid: str) -> list[dict[str, Any]]:
        return list(self.server.client(self.tenant_token).get(f"/v1/jobs/{jid}/events").json()["events"])

    def logs(self, jid: str, stream: str = "stdout", attempt: int | None = None) -> str:
        params: dict[str, Any] = {"stream": stream}
        if attempt is not None:
            params["attempt"] = attempt
        r = self.server.client(self.tenant_token).get(f"/v1/jobs/{jid}/logs", params=params)
        assert r.status_code == 200, r.text
        return str(r.text)

    def wait_state(self, jid: str, states: tuple[str, ...], timeout_s: float = 60) -> dict[str, Any]:
        return dict(
            wait_for(
                lambda: (j := self.job(jid))["state"] in states and j,
                timeout_s,
                f"job {jid} in {states}",
                lambda: json.dumps(self.job(jid)) + "\n" + self.debug(),
            )
        )

    def debug(self) -> str:
        return "\n".join(a.tail() for a in self.agents) + "\n--- server ---\n" + self.server.log_tail(3000)

    def close(self) -> None:
        for a in self.agents:
            a.stop()
        for a in self.agents:  # a failed test must not leave job processes behind on the CI machine
            for rec in a.jobs().values():
                if rec.get("pid") and live_pids(rec["pid"]):
                    os.killpg(rec["pid"], signal.SIGKILL)


def site_doc(accelerator: str = "L40S", gpus_per_node: int = 2) -> dict[str, Any]:
    """A small private-cloud site whose nodes the agents register into."""
    return {
        "id": SITE,
        "name": SITE,
        "operator": "test",
        "kind": "private_cloud",
        "country": "FR",
        "region": "test",
        "latitude": 48.8,
        "longitude": 2.3,
        "grid_zone": "FR",
        "power_mw": 1.0,
        "cooling": "air",
        "pue": 1.3,
        "access": "both",
        "price_eur_per_gpu_h": {accelerator: 1.0},
        "pools": [{"id": "p1", "accelerator": accelerator, "gpus_per_node": gpus_per_node, "nodes": 1}],
    }


def federations(server: Callable[..., Any], tmp_path: Path) -> Iterator[Callable[..., Federation]]:
    """Factory: ``make(**server_env)`` -> a :class:`Federation` on a fresh server; agents stopped afterwards."""
    made: list[Federation] = []

    def make(**env: str) -> Federation:
        sp = server(**env)
        sp.put_site(site_doc())
        fed = Federation(sp, sp.make_org("gpu-owner", kind="provider"), sp.make_org("acme"), tmp_path)
        made.append(fed)
        return fed

    yield make
    for fed in made:
        fed.close()


@pytest.fixture
def federation(server: Callable[..., Any], tmp_path: Path) -> Iterator[Callable[..., Federation]]:
    """A :func:`federations` factory on the ``server`` fixture (SQLite and PostgreSQL)."""
    yield from federations(server, tmp_path)


def _trace_job(trace: Path, tag: str, body: str) -> str:
    """A shell job that records when it held which GPUs on which agent, around ``body``."""
    return (
        f'echo "$(date +%s.%N) $CUDA_VISIBLE_DEVICES $(pwd)" > {trace}/{tag}.start; {body}; rc=$?; '
        f'echo "$(date +%s.%N)" > {trace}/{tag}.end; exit $rc'
    )


def test_jobs_run_on_two_agents_with_logs_exit_codes_and_exclusive_gpus_and_cancel_leaves_nothing(
    federation, tmp_path
) -> None:
    fed = federation()
    fed.agent("node-a")
    fed.agent("node-b")
    trace = tmp_path / "trace"
    trace.mkdir()
    py = tmp_path / "work.py"
    py.write_text(
        "import os, sys\n"
        "print('python sees GPUs', os.environ['CUDA_VISIBLE_DEVICES'], 'for', os.environ['HEXAGRID_JOB_ID'])\n"
        "print('warning: to stderr', file=sys.stderr)\n"
        "sys.exit(int(os.environ.get('CODE', '0')))\n"
    )
    jobs: dict[str, tuple[str, int]] = {}  # id -> (tag, expected exit code)
    for i in range(6):
        tag = f"sh{i}"
        jid = fed.submit(_trace_job(trace, tag, f"echo hello {tag}; echo err {tag} >&2; sleep 1"), name=tag)
        jobs[jid] = (tag, 0)
    jid = fed.submit(_trace_job(trace, "py", f"{sys.executable} {py}"), name="py", envs={"CODE": "0"})
    jobs[jid] = ("py", 0)
    jid = fed.submit(_trace_job(trace, "bad", f"CODE=3 {sys.executable} {py}"), name="bad")
    jobs[jid] = ("bad", 3)
    jid = fed.submit(_trace_job(trace, "two", "echo two GPUs; sleep 1"), name="two", gpus=2)
    jobs[jid] = ("two", 0)

    for jid, (tag, code) in jobs.items():
        j = fed.wait_state(jid, ("succeeded", "failed", "cancelled"), timeout_s=90)
        assert j["exit_code"] == code, (tag, j)
        assert j["state"] == ("succeeded" if code == 0 else "failed"), (tag, j)
    for jid, (tag, _) in jobs.items():
        out = wait_for(lambda jid=jid: fed.logs(jid), 10, f"logs of {jid}")
        if tag.startswith("sh"):
            assert out == f"hello {tag}\n"
            assert fed.logs(jid, "stderr") == f"err {tag}\n"
        elif tag == "py":
            gpu = (trace / "py.start").read_text().split()[1]
            assert out == f"python sees GPUs {gpu} for {jid}\n"
            assert fed.logs(jid, "stderr") == "warning: to stderr\n"
        elif tag == "two":
            assert out == "two GPUs\n"

    # GPU exclusivity on each node: intervals on the same (agent, GPU) never overlap
    spans = []
    for tag, _ in jobs.values():
        t0, gpus, cwd = (trace / f"{tag}.start").read_text().split()
        t1 = float((trace / f"{tag}.end").read_text())
        agent = "node-a" if "/node-a/" in cwd else "node-b"
        spans.extend((agent, int(g), float(t0), t1, tag) for g in gpus.split(","))
    assert {s[0] for s in spans} == {"node-a", "node-b"}  # both agents ran work
    for i, a in enumerate(spans):
        for b in spans[i + 1 :]:
            if a[:2] == b[:2]:
                assert a[3] <= b[2] or b[3] <= a[2], f"{a[4]} and {b[4]} overlap on {a[0]} GPU {a[1]}"
    assert sorted(g for _agent, g, _t0, _t1, tag in spans if tag == "two") == [0, 1]

    node = fed.node("node-a", "ready")
    assert node is not None and node["power_source"] == "estimate" and node["detected_by"] == "declared"

    # cancel (same federation, to spare a server start): the group ignores SIGTERM, SIGKILL after the grace
    jid = fed.submit("trap '' TERM; sleep 300 & sleep 300 & echo started; wait", name="stubborn")
    fed.wait_state(jid, ("running",))
    key = f"{jid}#1"
    a = wait_for(lambda: next((a for a in fed.agents if key in a.jobs()), None), 30, "the agent running it", fed.debug)
    pgid = wait_for(lambda: a.jobs().get(key, {}).get("pid"), 30, "pid in the agent's state", fed.debug)
    pids = wait_for(lambda: (p := live_pids(pgid)) and len(p) >= 3 and p, 30, "job processes", fed.debug)
    r = fed.server.client(fed.tenant_token).post(f"/v1/jobs/{jid}/cancel")
    assert r.status_code == 200, r.text
    assert fed.wait_state(jid, ("cancelled",), timeout_s=30)["state"] == "cancelled"
    wait_for(lambda: not any(alive(p) for p in pids), 15, f"pids {pids} gone", fed.debug)
    wait_for(lambda: key not in a.jobs(), 15, "the attempt dropped from the agent's state", fed.debug)
    assert not list((a.state_dir / "work").glob("*"))  # and every attempt's working directory is removed
