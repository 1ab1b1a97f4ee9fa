"""Shared test fixtures.

Tests that need a real service call :func:`missing_service`, which skips with a clear reason, or fails
when ``HEXAGRID_REQUIRE_INTEGRATION=1`` (as CI sets it), so CI never hides a missing service.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def missing_service(reason: str) -> None:
    """Skip the calling test because a service is absent, or fail if integration is required."""
    if os.environ.get("HEXAGRID_REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"integration required but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (present on developer machines and in CI)."""
    if not SHARED_DATA.is_dir():
        missing_service(f"{SHARED_DATA} not found (the shared data folder beside the checkout)")
    return SHARED_DATA
