"""Job processes: each attempt runs in its own process group and session, with its own working directory.

Layout of one attempt (``<key>`` = ``<job_id>.<attempt>``)::

    <work_dir>/<key>/            the job's working directory (its cwd)
    <state_dir>/jobs/<key>/      the agent's: setup.sh, run.sh, wrapper.sh, stdout.log, stderr.log, exit_code

A small ``/bin/sh`` wrapper runs ``setup`` then ``run`` and writes the exit status to ``exit_code``:
the agent that started the job may be gone when it ends (kill -9, upgrade), and a restarted agent
reads that file to report the end. Output goes to files, not pipes, for the same reason: the job
never blocks on a dead reader and the restarted agent ships the log from the offset the server
acknowledged.

Stopping sends the checkpoint signal (SIGTERM unless the job asked for SIGUSR1) to the whole group,
SIGTERM near the end of the grace period when the checkpoint signal was another one, then SIGKILL at
the deadline. A group counts as gone when no live (non-zombie) process of it is left, which
:func:`group_members` reads from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from hexagrid.agent.state import JobRecord

__all__ = [
    "JOB_ENV_PASSTHROUGH",
    "JobRunner",
    "group_members",
    "live_groups",
    "read_chunk",
]

#: Variables of the agent's own environment a job inherits. Everything else (the provider token above
#: all) stays out of the job; the job's own ``env`` comes on top.
JOB_ENV_PASSTHROUGH = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
    "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH",
)  # fmt: skip

_WRAPPER = """#!/bin/sh
# Written by the hexagrid agent: setup, then run; the exit status goes to a file a restarted agent can read.
meta="$1"
code=0
if [ -s "$meta/setup.sh" ]; then
  /bin/sh "$meta/setup.sh"
  code=$?
fi
if [ "$code" -eq 0 ]; then
  /bin/sh "$meta/run.sh"
  code=$?
fi
# builtins only: the job's env may set a PATH without mv; the agent reads the file once the group is gone
printf '%s\\n' "$code" > "$meta/exit_code"
exit "$code"
"""

_SAFE_KEY = re.compile(r"[^A-Za-z0-9_.-]")
_SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGUSR1": signal.SIGUSR1, "SIGINT": signal.SIGINT}
#: When the checkpoint signal is not SIGTERM, SIGTERM follows this long before the SIGKILL deadline.
_TERM_BEFORE_KILL_S = 5.0


def _proc_stat(pid: str) -> tuple[str, int] | None:
    """(state, pgrp) of a process from /proc/<pid>/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return fields[0].decode(), int(fields[2])


def live_groups() -> dict[int, list[int]]:
    """Every process group on the host -> its live (non-zombie) pids, from one scan of /proc."""
    groups: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return groups
    for name in entries:
        if not name.isdigit():
            continue
        st = _proc_stat(name)
        if st is None or st[0] in ("Z", "X"):
            continue
        groups.setdefault(st[1], []).append(int(name))
    return groups


def group_members(pgid: int) -> list[int]:
    """Live pids of one process group (zombies excluded: they hold no resources and cannot be signalled away)."""
    if not os.path.isdir("/proc"):  # not Linux: best effort through kill(0)
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    return live_groups().get(pgid, [])


def _environ_of(pid: int) -> dict[str, str] | None:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def _utf8_cut(raw: bytes) -> int:
    """Length of the longest prefix of ``raw`` that does not end inside a multi-byte UTF-8 character."""
    n = len(raw)
    for back in range(1, min(4, n) + 1):
        b = raw[n - back]
        if b & 0xC0 == 0x80:  # continuation byte: keep looking for the lead
            continue
        need = 2 if b & 0xE0 == 0xC0 else 3 if b & 0xF0 == 0xE0 else 4 if b & 0xF8 == 0xF0 else 1
        return n if back >= need else n - back
    return n


def read_chunk(path: Path, offset: int, final: bool, max_bytes: int = 65536) -> tuple[str, int]:
    """The text of ``path`` from byte ``offset`` and how many bytes it covers (``data`` <= ``max_bytes`` as UTF-8).

    While the job runs, a multi-byte character split at the end waits for its remaining bytes; once the
    job has ended (``final``) undecodable bytes become U+FFFD.
    """
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(max_bytes)
    except FileNotFoundError:
        return "", 0
    limit = len(raw)
    while True:
        cut = raw[:limit]
        if not final or limit < len(raw):
            cut = cut[: _utf8_cut(cut)]
        text = cut.decode("utf-8", errors="replace")
        if len(text.encode()) <= max_bytes or limit <= 4:
            return text, len(cut)
        limit //= 2


class JobRunner:
    """Starts, observes and stops job process groups. Holds no network or scheduling logic."""

    def __init__(self, work_dir: Path, state_dir: Path, base_env: Mapping[str, str] | None = None) -> None:
        self.work_dir = work_dir
        self.meta_root = state_dir / "jobs"
        source = os.environ if base_env is None else base_env
        self.base_env = {k: source[k] for k in JOB_ENV_PASSTHROUGH if k in source}
        self._popen: dict[str, subprocess.Popen[bytes]] = {}

    # ---- start ---------------------------------------------------------------------------------------

    def prepare(self, rec: JobRecord) -> None:
        """Fill in the record's directories (before it is saved, so a crash right after start finds them)."""
        key = _SAFE_KEY.sub("_", f"{rec.job_id}.{rec.attempt}")
        rec.work_dir = str(self.work_dir / key)
        rec.meta_dir = str(self.meta_root / key)

    def start(self, rec: JobRecord, setup: str | None, run: str, env: Mapping[str, str]) -> int:
        """Start the attempt in a new session (its own process group); returns the pid (= the group id)."""
        work, meta = Path(rec.work_dir), Path(rec.meta_dir)
        for d in (work, meta):  # private to the agent's user: other local users must not read tenant data
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            d.chmod(0o700)
        (meta / "setup.sh").write_text(setup or "")
        (meta / "run.sh").write_text(run)
        (meta / "wrapper.sh").write_text(_WRAPPER)
        (meta / "exit_code").unlink(missing_ok=True)
        job_env = {
            **self.base_env,
            "PYTHONUNBUFFERED": "1",  # so Python jobs' output streams as it is written; a job may override it
            **env,
            "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in rec.gpu_indices),
            "HEXAGRID_JOB_ID": rec.job_id,
            "HEXAGRID_ATTEMPT": str(rec.attempt),
            "HEXAGRID_WORK_DIR": str(work),
        }
        with open(meta / "stdout.log", "ab") as out, open(meta / "stderr.log", "ab") as err:
            proc = subprocess.Popen(
                ["/bin/sh", str(meta / "wrapper.sh"), str(meta)],
                cwd=work,
                env=job_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # setsid: own session and process group, pgid == pid
                close_fds=True,
            )
        self._popen[rec.key] = proc
        rec.pid = proc.pid
        return proc.pid

    # ---- observe -------------------------------------------------------------------------------------

    def is_ours(self, rec: JobRecord, members: list[int]) -> bool:
        """Whether a live group with the record's pgid is still this attempt (not a reused id) — by its environment."""
        for pid in members:
            env = _environ_of(pid)
            if env is None:
                continue
            return env.get("HEXAGRID_JOB_ID") == rec.job_id and env.get("HEXAGRID_ATTEMPT") == str(rec.attempt)
        return True  # unreadable environments (another user's processes under a hardened /proc): trust the pgid

    def members(self, rec: JobRecord, groups: Mapping[int, list[int]] | None = None) -> list[int]:
        """Live pids of the attempt's group; reaps the group leader if this runner started it."""
        proc = self._popen.get(rec.key)
        if proc is not None:
            proc.poll()  # reap the wrapper so it does not linger as a zombie
        if rec.pid is None:
            return []
        if groups is None:
            return group_members(rec.pid)
        return list(groups.get(rec.pid, []))

    def exit_code(self, rec: JobRecord) -> int | None:
        """The exit status the wrapper recorded, else the one the runner reaped, else None (unknown)."""
        path = Path(rec.meta_dir) / "exit_code"
        with contextlib.suppress(OSError, ValueError):
            return int(path.read_text().strip())
        proc = self._popen.get(rec.key)
        if proc is not None and proc.returncode is not None:
            rc = proc.returncode
            return 128 - rc if rc < 0 else rc  # killed by signal N: report as a shell would (128 + N)
        return None

    def wrapper_done(self, rec: JobRecord) -> bool:
        """The wrapper has finished (its exit status is on disk or it was reaped)."""
        with contextlib.suppress(OSError):
            if (Path(rec.meta_dir) / "exit_code").read_bytes().endswith(b"\n"):  # complete, not mid-write
                return True
        proc = self._popen.get(rec.key)
        return proc is not None and proc.poll() is not None

    def log_path(self, rec: JobRecord, stream: str) -> Path:
        return Path(rec.meta_dir) / f"{stream}.log"

    # ---- stop ----------------------------------------------------------------------------------------

    def signal_group(self, rec: JobRecord, sig: signal.Signals) -> bool:
        """Send ``sig`` to the whole group; False when the group is already gone."""
        if rec.pid is None:
            return False
        try:
            os.killpg(rec.pid, sig)
        except ProcessLookupError:
            return False
        rec.signals_sent.append(sig.name)
        return True

    def escalate(self, rec: JobRecord, now_s: float) -> None:
        """Drive a stop in progress: checkpoint signal first, SIGTERM late in the grace period, SIGKILL at the deadline."""
        if rec.stop_deadline_s is None:
            return
        first = _SIGNALS.get(rec.checkpoint_signal or "SIGTERM", signal.SIGTERM)
        if rec.stop_reason == "cancelled":
            first = signal.SIGTERM  # a cancelled job has nothing to save
        if not rec.signals_sent:
            self.signal_group(rec, first)
        if (
            first is not signal.SIGTERM
            and "SIGTERM" not in rec.signals_sent
            and now_s >= rec.stop_deadline_s - min(_TERM_BEFORE_KILL_S, 0.5 * (rec.grace_s or 0.0))
        ):
            self.signal_group(rec, signal.SIGTERM)
        if now_s >= rec.stop_deadline_s and "SIGKILL" not in rec.signals_sent:
            self.signal_group(rec, signal.SIGKILL)

    def forget(self, rec: JobRecord) -> None:
        """Remove the attempt's directories once its end is acknowledged: tenant data must not outlive the job."""
        self._popen.pop(rec.key, None)
        for d in (rec.work_dir, rec.meta_dir):
            if d:
                shutil.rmtree(d, ignore_errors=True)
