"""One pydantic-settings ``Settings`` for the server; every field can be set as ``HEXAGRID_<NAME>``."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_data_dir"]


def default_data_dir() -> Path:
    """The user's data directory (XDG): ``$XDG_DATA_HOME/hexagrid`` or ``~/.local/share/hexagrid``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hexagrid"


class Settings(BaseSettings):
    """Server settings. Tests shorten the heartbeat and lost timings through the environment."""

    model_config = SettingsConfigDict(env_prefix="HEXAGRID_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    scenario: str | None = Field(default=None, description="scenario name or path giving sites and tenants")
    host: str = "127.0.0.1"
    port: int = Field(default=8642, ge=0, le=65535)
    heartbeat_interval_s: float = Field(default=10.0, gt=0, le=3600)
    lost_after_s: float | None = Field(default=None, gt=0, description="default 3 x heartbeat_interval_s")
    long_poll_s: float = Field(default=25.0, ge=0, le=300)
    stop_grace_s: float = Field(default=30.0, ge=0, le=3600)
    tick_s: float = Field(default=5.0, gt=0, le=3600, description="scheduling pass at least this often")
    min_pass_interval_s: float = Field(default=0.5, ge=0, le=60, description="at most one pass per this interval")
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    bootstrap_admin_token: str | None = Field(default=None, repr=False)
    scheduler_enabled: bool = True
    scheduler_process: bool = Field(default=True, description="run the loop in its own process (else a thread)")
    carbon: str | None = Field(
        default="builtin:2022", description="carbon data replayed on the live calendar; 'none' disables"
    )
    log_level: str = "info"

    @model_validator(mode="after")
    def _lost(self) -> Settings:
        if self.lost_after_s is None:
            self.lost_after_s = 3 * self.heartbeat_interval_s
        return self

    @property
    def lost_after(self) -> float:
        return float(self.lost_after_s or 3 * self.heartbeat_interval_s)

    @property
    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'hexagrid.db'}"
