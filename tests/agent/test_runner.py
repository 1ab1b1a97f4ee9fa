"""The job runner on real processes: process groups, environment, exit files, stop escalation, log chunks."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hexagrid.agent.runner import JobRunner, group_members, read_chunk
from hexagrid.agent.state import JobRecord


def _wait(cond, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _runner(tmp_path: Path, **env: str) -> JobRunner:
    return JobRunner(tmp_path / "work", tmp_path / "state", base_env={"PATH": os.environ["PATH"], **env})


def _rec(runner: JobRunner, job_id: str = "j-1", attempt: int = 1, gpus=(0, 1), **kw) -> JobRecord:
    rec = JobRecord(job_id=job_id, attempt=attempt, gpu_indices=list(gpus), **kw)
    runner.prepare(rec)
    return rec


def _ended(runner: JobRunner, rec: JobRecord) -> bool:
    return not runner.members(rec)


def test_setup_then_run_with_environment_and_exit_code_file(tmp_path: Path) -> None:
    runner = _runner(tmp_path, HEXAGRID_TOKEN="secret-provider-token")
    rec = _rec(runner)
    pid = runner.start(
        rec,
        setup="echo setup-ran > marker",
        run='cat marker; echo "gpus=$CUDA_VISIBLE_DEVICES job=$HEXAGRID_JOB_ID attempt=$HEXAGRID_ATTEMPT k=$K '
        'token=${HEXAGRID_TOKEN:-none} cwd=$(pwd)"; echo oops >&2; exit 3',
        env={"K": "V"},
    )
    assert os.getpgid(pid) == pid and os.getsid(pid) == pid  # its own session and group
    _wait(lambda: _ended(runner, rec))
    assert runner.exit_code(rec) == 3
    assert (Path(rec.meta_dir) / "exit_code").read_text().strip() == "3"
    out = runner.log_path(rec, "stdout").read_text()
    assert "setup-ran" in out
    assert f"gpus=0,1 job=j-1 attempt=1 k=V token=none cwd={rec.work_dir}" in out  # the provider token stays out
    assert runner.log_path(rec, "stderr").read_text() == "oops\n"


def test_failed_setup_skips_run(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    rec = _rec(runner)
    runner.start(rec, setup="exit 7", run="echo should-not-run", env={})
    _wait(lambda: _ended(runner, rec))
    assert runner.exit_code(rec) == 7
    assert runner.log_path(rec, "stdout").read_text() == ""


def test_stop_kills_whole_group_including_children(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    rec = _rec(runner, grace_s=0.5)
    runner.start(rec, setup=None, run="sleep 60 & sleep 60 & echo started; wait", env={})
    _wait(lambda: "started" in runner.log_path(rec, "stdout").read_text())
    pids = group_members(rec.pid)
    assert len(pids) >= 3  # wrapper, the run shell, two sleeps
    rec.stop_reason, rec.stop_deadline_s = "cancelled", time.time() + 0.5
    runner.escalate(rec, time.time())
    _wait(lambda: _ended(runner, rec))
    assert rec.signals_sent == ["SIGTERM"]
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_sigkill_after_grace_for_a_job_ignoring_sigterm(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    rec = _rec(runner, grace_s=0.3)
    runner.start(rec, setup=None, run="trap '' TERM; echo ready; while :; do sleep 0.05; done", env={})
    _wait(lambda: "ready" in runner.log_path(rec, "stdout").read_text())
    rec.stop_reason, rec.stop_deadline_s = "preempted", time.time() + 0.3
    runner.escalate(rec, time.time())
    time.sleep(0.1)
    assert runner.members(rec)  # still alive: it ignores SIGTERM
    _wait(lambda: time.time() >= rec.stop_deadline_s)
    runner.escalate(rec, time.time())
    _wait(lambda: _ended(runner, rec))
    assert rec.signals_sent == ["SIGTERM", "SIGKILL"]


def test_checkpoint_signal_sigusr1_comes_first_and_job_saves_state(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    rec = _rec(runner, grace_s=5.0, checkpoint_signal="SIGUSR1")
    script = (
        "import signal, sys, time\n"
        "def save(*_):\n"
        "    open('checkpoint', 'w').write('step 42')\n"
        "    print('checkpointed', flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGUSR1, save)\n"
        "print('ready', flush=True)\n"
        "while True: time.sleep(0.05)\n"
    )
    Path(rec.work_dir).mkdir(parents=True)
    (Path(rec.work_dir) / "train.py").write_text(script)
    import sys

    runner.start(rec, setup=None, run=f"exec {sys.executable} train.py", env={})
    _wait(lambda: "ready" in runner.log_path(rec, "stdout").read_text())
    rec.stop_reason, rec.stop_deadline_s = "preempted", time.time() + 5.0
    runner.escalate(rec, time.time())
    _wait(lambda: _ended(runner, rec))
    assert rec.signals_sent == ["SIGUSR1"]
    assert (Path(rec.work_dir) / "checkpoint").read_text() == "step 42"
    assert "checkpointed" in runner.log_path(rec, "stdout").read_text()


def test_is_ours_checks_the_job_environment(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    rec = _rec(runner)
    runner.start(rec, setup=None, run="sleep 30", env={})
    assert rec.pid is not None
    # until the forked child has exec'd the wrapper, /proc shows the test process's own environment
    environ = Path(f"/proc/{rec.pid}/environ")
    _wait(lambda: b"HEXAGRID_JOB_ID=" in environ.read_bytes())
    members = group_members(rec.pid)
    assert runner.is_ours(rec, members)
    other = JobRecord(job_id="j-other", attempt=1, pid=rec.pid)
    assert not runner.is_ours(other, members)
    os.killpg(rec.pid, signal.SIGKILL)
    _wait(lambda: _ended(runner, rec))


def test_forget_removes_the_attempt_directories(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    rec = _rec(runner)
    runner.start(rec, setup=None, run="echo data > out.txt", env={})
    _wait(lambda: _ended(runner, rec))
    assert (Path(rec.work_dir) / "out.txt").exists()
    runner.forget(rec)
    assert not Path(rec.work_dir).exists() and not Path(rec.meta_dir).exists()


@pytest.mark.parametrize("final", [False, True])
def test_read_chunk_never_splits_a_utf8_character_while_running(tmp_path: Path, final: bool) -> None:
    p = tmp_path / "log"
    p.write_bytes("é€".encode() + "😀".encode()[:2])  # 2 + 3 bytes complete, then half an emoji
    data, n = read_chunk(p, 0, final=final)
    if final:
        assert data.startswith("é€") and data.endswith("\ufffd") and n == 7
    else:
        assert (data, n) == ("é€", 5)
    with open(p, "ab") as fh:
        fh.write("😀".encode()[2:])
    assert read_chunk(p, 5, final=False) == ("😀", 4)
    assert read_chunk(p, 9, final=False) == ("", 0)


def test_read_chunk_respects_the_size_limit(tmp_path: Path) -> None:
    p = tmp_path / "log"
    p.write_bytes(("x" * 100 + "€").encode() * 1000)
    total, offset, pieces = p.stat().st_size, 0, []
    while True:
        data, n = read_chunk(p, offset, final=False, max_bytes=4096)
        if n == 0:
            break
        assert len(data.encode()) <= 4096
        pieces.append(data)
        offset += n
    assert offset == total and "".join(pieces) == ("x" * 100 + "€") * 1000


def test_read_chunk_bounds_replacement_growth(tmp_path: Path) -> None:
    p = tmp_path / "log"
    p.write_bytes(b"\xff" * 5000)  # each invalid byte becomes a 3-byte U+FFFD
    data, n = read_chunk(p, 0, final=True, max_bytes=4096)
    assert 0 < n < 5000 and len(data.encode()) <= 4096


def test_attempt_directories_are_private(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    rec = _rec(runner)
    runner.start(rec, setup=None, run="true", env={})
    _wait(lambda: _ended(runner, rec))
    assert Path(rec.work_dir).stat().st_mode & 0o777 == 0o700
    assert Path(rec.meta_dir).stat().st_mode & 0o777 == 0o700


def test_exit_status_is_recorded_even_when_the_job_sets_an_empty_path(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    rec = _rec(runner)
    runner.start(rec, setup=None, run="exit 6", env={"PATH": "/nonexistent"})
    _wait(lambda: _ended(runner, rec))
    assert (Path(rec.meta_dir) / "exit_code").read_text() == "6\n"
