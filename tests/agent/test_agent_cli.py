"""``hexagrid agent`` flags: every bad value is one line and exit status 2; root is refused unless allowed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hexagrid.agent.config import build_config, window_clock
from hexagrid.errors import InputError

BASE = {
    "server": "http://127.0.0.1:1",
    "token": "t",
    "site": "fr1",
    "accelerator": "H100",
    "gpus": 2,
    "allow_root": True,
}


def _agent(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEXAGRID_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hexagrid.cli.main",
            "agent",
            "--server",
            "http://127.0.0.1:1",
            "--token",
            "t",
            "--site",
            "fr1",
            "--state-dir",
            str(tmp_path / "s"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_root_is_refused_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^refusing to run jobs as root: run the agent as an unprivileged user"):
        build_config(**{**BASE, "allow_root": False}, euid=0)
    assert build_config(**{**BASE, "allow_root": True}, euid=0).allow_root
    assert build_config(**{**BASE, "allow_root": False}, euid=1000).gpus.count == 2
    if os.geteuid() == 0:  # as in CI: the real command refuses, one line, exit 2
        r = _agent("--accelerator", "H100", "--gpus", "2", tmp_path=tmp_path)
        assert r.returncode == 2
        assert r.stderr.startswith("hexagrid: error: refusing to run jobs as root") and r.stderr.count("\n") == 1
        # server and token from the environment: the first problem is again root, not a missing --server/--token
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEXAGRID_")}
        env |= {"HEXAGRID_URL": "http://127.0.0.1:1", "HEXAGRID_TOKEN": "t"}
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "hexagrid.cli.main",
                "agent",
                "--site",
                "fr1",
                "--accelerator",
                "H100",
                "--gpus",
                "1",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert r.returncode == 2 and r.stderr.startswith("hexagrid: error: refusing to run jobs as root"), r.stderr


def test_bad_window_is_one_line_exit_2(tmp_path: Path) -> None:
    r = _agent(
        "--accelerator", "H100", "--gpus", "2", "--allow-root", "--available", "Mon-Fri 19:00-31:00", tmp_path=tmp_path
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("hexagrid: error: --available: bad time in 'Mon-Fri 19:00-31:00'")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"server": None}, "--server: the control plane's URL is required"),
        ({"server": "ftp://x"}, "--server: expected an http:// or https:// URL, got 'ftp://x'"),
        ({"token": ""}, "--token: a provider token is required"),
        ({"site": None}, "--site: the site this node belongs to is required"),
        ({"accelerator": "H900"}, "--accelerator: 'H900' is not in the catalog; known: A100, B200"),
        ({"gpus": None}, "--gpus is required when declaring GPUs"),
        ({"gpus": 17}, "--gpus: must be between 1 and 16 GPUs per node, got 17"),
        ({"timezone": "Mars/Olympus"}, "--timezone: unknown time zone 'Mars/Olympus'"),
        ({"available": "Mon 10:00"}, "--available: cannot read window 'Mon 10:00'"),
        ({"heartbeat_s": 0.0}, "--heartbeat-s: must be between 0.05 and 3600 seconds, got 0.0"),
    ],
)
def test_bad_flags_name_the_flag_and_value(flags: dict, message: str) -> None:
    with pytest.raises(InputError) as err:
        build_config(**{**BASE, **flags})
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_config_defaults_and_windows(tmp_path: Path) -> None:
    c = build_config(
        **BASE,
        available="Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00",
        timezone="Europe/Paris",
        state_dir=tmp_path / "st",
        name="gpu-01",
    )
    assert c.schedule is not None and c.schedule.timezone == "Europe/Paris"
    assert c.availability == "Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00"
    assert c.work_dir == (tmp_path / "st" / "work").resolve() and c.node_name == "gpu-01"
    assert c.accelerator.name == "H100" and c.gpus.detected_by == "declared"
    assert build_config(**BASE).schedule is None  # no --available: always offered


def test_clock_offset_hook() -> None:
    import time

    shifted = window_clock({"HEXAGRID_CLOCK_OFFSET_S": "30"})
    assert 29.0 < shifted() - time.time() < 31.0
    assert window_clock({}) is time.time
    with pytest.raises(InputError, match="HEXAGRID_CLOCK_OFFSET_S: expected seconds as a number, got 'soon'"):
        window_clock({"HEXAGRID_CLOCK_OFFSET_S": "soon"})


def test_no_gpu_and_nothing_declared_is_one_line(tmp_path: Path) -> None:
    from hexagrid.agent.gpus import NvmlReader

    reader = NvmlReader.open()
    if reader is not None:  # pragma: no cover - a GPU host detects its GPUs instead
        reader.close()
        pytest.skip("NVML works here: the agent would detect GPUs rather than refuse")
    r = _agent("--allow-root", tmp_path=tmp_path)
    assert r.returncode == 2
    assert r.stderr == "hexagrid: error: no NVIDIA GPU detected; declare GPUs with --accelerator and --gpus\n"
