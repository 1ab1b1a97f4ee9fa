"""``hexagrid budget`` against a real server (SQLite): an admin sets, changes and lifts an organisation's and
a project's budget; ``usage`` shows the change; bad amounts and non-admin tokens exit 2 with one line and
change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _cli(sp: Any, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEXAGRID_")} | {
        "HEXAGRID_URL": sp.url,
        "HEXAGRID_TOKEN": token,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "hexagrid.cli.main", *args], capture_output=True, text=True, timeout=60, env=env
    )


def _budgets(sp: Any, token: str) -> list[dict[str, Any]]:
    r = _cli(sp, token, "usage", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["budgets"]  # type: ignore[no-any-return]


def test_budget_command_sets_changes_and_lifts(sqlite_server: Any) -> None:
    sp = sqlite_server()
    tenant = sp.make_org("acme", projects=[{"id": "llm"}])
    admin = sp.admin_token

    r = _cli(sp, admin, "budget", "acme", "1500")
    assert r.returncode == 0, r.stderr
    assert "budget of org acme: 1,500.00 EUR" in r.stdout, r.stdout
    assert [(b["scope"], b["budget_eur"]) for b in _budgets(sp, tenant)] == [("org", 1500.0)]

    r = _cli(sp, admin, "budget", "acme", "250.5", "--project", "llm", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["id"] == "acme"
    got = {(b["scope"], b["project"]): b["budget_eur"] for b in _budgets(sp, tenant)}
    assert got == {("org", None): 1500.0, ("project", "llm"): 250.5}

    r = _cli(sp, admin, "budget", "acme", "--clear")
    assert r.returncode == 0, r.stderr
    assert "none (unlimited)" in r.stdout
    assert [(b["scope"], b["project"]) for b in _budgets(sp, tenant)] == [("project", "llm")]

    # bad input: one line on stderr, exit 2, nothing changed
    for args, needle in [
        (("acme", "--project", "llm", "--", "-5"), "'-5' must be a finite number of EUR"),
        (("acme", "inf", "--project", "llm"), "'inf' must be a finite number of EUR"),
        (("acme", "lots", "--project", "llm"), "'lots' is not a number"),
        (("acme", "10", "--clear"), "not both"),
        (("acme",), "not both and not neither"),
        (("nosuch", "10"), "nosuch"),
        (("acme", "10", "--project", "nosuch"), "nosuch"),
    ]:
        r = _cli(sp, admin, "budget", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    r = _cli(sp, tenant, "budget", "acme", "0", "--project", "llm")
    assert r.returncode == 2 and "admin" in r.stderr, r.stderr
    assert [(b["project"], b["budget_eur"]) for b in _budgets(sp, tenant)] == [("llm", 250.5)]
