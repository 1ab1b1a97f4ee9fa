"""``hexagrid agent``: run the provider agent on this node (see docs/agent.md)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import typer

__all__ = ["agent"]


def agent(
    server: str = typer.Option(
        None, "--server", envvar="HEXAGRID_URL", help="Control plane URL, e.g. http://host:8642."
    ),
    token: str = typer.Option(
        None, "--token", envvar="HEXAGRID_TOKEN", help="Provider token (scope 'provider').", show_default=False
    ),
    site: str = typer.Option(None, "--site", help="Site id this node belongs to."),
    pool: str = typer.Option(None, "--pool", help="Pool id at the site (default: matched by accelerator and GPUs)."),
    accelerator: str = typer.Option(
        None, "--accelerator", help="Declare the GPU model (catalog name) instead of NVML."
    ),
    gpus: int = typer.Option(None, "--gpus", help="Declare the number of GPUs (with --accelerator)."),
    available: str = typer.Option(
        None,
        "--available",
        help="Availability windows in the node's time zone, e.g. 'Mon-Fri 19:00-07:00; "
        "Sat-Sun 00:00-24:00' (default: always).",
    ),
    timezone: str = typer.Option(None, "--timezone", help="IANA time zone of the windows (default: the host's)."),
    work_dir: Path = typer.Option(None, "--work-dir", help="Jobs' working directories (default: <state-dir>/work)."),
    state_dir: Path = typer.Option(
        None, "--state-dir", help="Agent state: node token, running jobs (default: ~/.local/state/hexagrid-agent)."
    ),
    name: str = typer.Option(None, "--name", help="Node name (default: the host name)."),
    allow_root: bool = typer.Option(False, "--allow-root", help="Run jobs even though the agent runs as root."),
    heartbeat_s: float = typer.Option(None, "--heartbeat-s", help="Heartbeat interval (default: the server's)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every call and retry."),
) -> None:
    """Join this node to the federation: offer its GPUs, run assigned jobs, report power and logs."""
    from hexagrid.agent.agent import Agent
    from hexagrid.agent.config import build_config
    from hexagrid.agent.gpus import NvmlReader

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    nvml = NvmlReader.open()
    try:
        config = build_config(
            server=server,
            token=token,
            site=site,
            pool=pool,
            accelerator=accelerator,
            gpus=gpus,
            available=available,
            timezone=timezone,
            work_dir=work_dir,
            state_dir=state_dir,
            name=name,
            allow_root=allow_root,
            heartbeat_s=heartbeat_s,
            nvml=nvml,
        )
    except BaseException:
        if nvml is not None:
            nvml.close()
        raise
    if nvml is not None and nvml.count < config.gpus.count:
        nvml.close()  # declared more GPUs than NVML sees: estimates for all, never a mix of devices
        nvml = None
    code = asyncio.run(Agent(config, nvml=nvml).run())
    raise typer.Exit(code)
