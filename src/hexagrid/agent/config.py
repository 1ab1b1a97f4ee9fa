"""The agent's configuration, built from its command-line flags; every bad value is one clear line.

``HEXAGRID_CLOCK_OFFSET_S`` (seconds, default 0) shifts the clock the agent reads its availability
windows with. It exists so tests can put a window's close a few seconds ahead without waiting for a
real minute boundary; the server reads the same variable (its settings use the ``HEXAGRID_`` prefix),
so both sides see the same shifted time. It changes nothing else: deadlines and heartbeats use the
real clock. Never set it in production.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hexagrid.agent.gpus import DetectedGpus, NvmlReader, declared_gpus, detect_gpus
from hexagrid.domain import Accelerator, WeeklySchedule, get_accelerator
from hexagrid.errors import InputError

__all__ = ["CLOCK_OFFSET_ENV", "AgentConfig", "build_config", "local_timezone", "window_clock"]

CLOCK_OFFSET_ENV = "HEXAGRID_CLOCK_OFFSET_S"


def local_timezone() -> str:
    """The host's IANA time zone (``TZ``, ``/etc/timezone`` or the ``/etc/localtime`` link), else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if not name:
            continue
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return name
    return "UTC"


def window_clock(environ: dict[str, str] | None = None) -> Callable[[], float]:
    """The clock windows are read with: real POSIX time plus ``HEXAGRID_CLOCK_OFFSET_S`` (tests only)."""
    env = os.environ if environ is None else environ
    raw = env.get(CLOCK_OFFSET_ENV, "").strip()
    if not raw:
        return time.time
    try:
        offset = float(raw)
    except ValueError:
        raise InputError(f"{CLOCK_OFFSET_ENV}: expected seconds as a number, got {raw!r}") from None
    return lambda: time.time() + offset


@dataclass(frozen=True)
class AgentConfig:
    """Everything the agent needs to run, validated."""

    server_url: str
    token: str
    site: str | None
    pool: str | None
    gpus: DetectedGpus
    accelerator: Accelerator
    availability: str | None
    schedule: WeeklySchedule | None
    timezone: str
    work_dir: Path
    state_dir: Path
    node_name: str
    allow_root: bool
    heartbeat_s: float | None


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hexagrid-agent"


def build_config(
    *,
    server: str | None,
    token: str | None,
    site: str | None = None,
    pool: str | None = None,
    accelerator: str | None = None,
    gpus: int | None = None,
    available: str | None = None,
    timezone: str | None = None,
    work_dir: Path | None = None,
    state_dir: Path | None = None,
    name: str | None = None,
    allow_root: bool = False,
    heartbeat_s: float | None = None,
    nvml: NvmlReader | None = None,
    euid: int | None = None,
) -> AgentConfig:
    """Validate the flags; GPUs come from ``--accelerator/--gpus`` when given, else from NVML (``nvml``)."""
    if not server:
        raise InputError("--server: the control plane's URL is required (or set HEXAGRID_URL), e.g. http://host:8642")
    if not server.startswith(("http://", "https://")):
        raise InputError(f"--server: expected an http:// or https:// URL, got {server!r}")
    if not token:
        raise InputError("--token: a provider token is required (or set HEXAGRID_TOKEN)")
    if not site:
        raise InputError("--site: the site this node belongs to is required (GET /v1/sites on the server lists them)")
    uid = os.geteuid() if euid is None else euid
    if uid == 0 and not allow_root:
        raise InputError(
            "refusing to run jobs as root: run the agent as an unprivileged user (see docs/agent.md), "
            "or pass --allow-root to accept the risk"
        )
    if heartbeat_s is not None and not 0.05 <= heartbeat_s <= 3600:
        raise InputError(f"--heartbeat-s: must be between 0.05 and 3600 seconds, got {heartbeat_s}")
    tz = timezone or local_timezone()
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"--timezone: unknown time zone {tz!r}; use an IANA name such as 'Europe/Paris'") from None
    schedule = None
    if available is not None and available.strip():
        try:
            schedule = WeeklySchedule.parse(available, tz)
        except ValueError as exc:
            raise InputError(f"--available: {exc}") from None
    detected = declared_gpus(accelerator, gpus) or detect_gpus(nvml)
    node_name = name or socket.gethostname()
    if not node_name.strip():
        raise InputError("--name: the node name must not be empty")
    state = (state_dir or default_state_dir()).expanduser().resolve()
    work = (work_dir or state / "work").expanduser().resolve()
    return AgentConfig(
        server_url=server.rstrip("/"),
        token=token,
        site=site,
        pool=pool,
        gpus=detected,
        accelerator=get_accelerator(detected.accelerator),
        availability=available.strip() if schedule is not None and available else None,
        schedule=schedule,
        timezone=tz,
        work_dir=work,
        state_dir=state,
        node_name=node_name,
        allow_root=allow_root,
        heartbeat_s=heartbeat_s,
    )


def whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.geteuid())
