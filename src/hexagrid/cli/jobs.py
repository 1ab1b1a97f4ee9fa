"""Client commands: ``submit``, ``jobs``, ``logs``, ``cancel``, ``explain``, ``usage``, ``budget`` (admin).

Server URL and token come from ``--url``/``--token``, ``HEXAGRID_URL``/``HEXAGRID_TOKEN`` or the config file
written by ``hexagrid up``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hexagrid.cli.common import console, fail, print_json

__all__ = ["register"]

_URL = typer.Option(None, "--url", help="Server URL (else HEXAGRID_URL, else the config file).")
_TOKEN = typer.Option(
    None, "--token", help="API token (else HEXAGRID_TOKEN, else the config file).", show_default=False
)
_JSON = typer.Option(False, "--json", help="Print JSON.")


def _client(url: str | None, token: str | None) -> Any:
    from hexagrid.client import HexagridClient

    c = HexagridClient(url, token)
    if not c.token:
        fail("no API token: pass --token, set HEXAGRID_TOKEN, or run 'hexagrid up' (it writes the CLI config)")
    return c


def submit(
    file: Path = typer.Argument(..., help="A job spec: native YAML or an sbatch script ('-' reads stdin)."),
    idempotency_key: str = typer.Option(None, "--idempotency-key", help="Make retries of this submit safe."),
    url: str = _URL,
    token: str = _TOKEN,
    as_json: bool = _JSON,
) -> None:
    """Submit a job; prints its id."""
    from hexagrid.specs import parse_spec

    if str(file) == "-":
        text = sys.stdin.read()
        source = "<stdin>"
    else:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{file}: cannot read ({exc.strerror})")
        except UnicodeDecodeError:
            fail(f"{file}: not UTF-8 text")
        source = str(file)
    parse_spec(text, source)  # errors name the file and field before anything is sent
    with _client(url, token) as c:
        job = c.submit(text, content_type="text/plain", idempotency_key=idempotency_key)
    if as_json:
        print_json(job)
    else:
        console.print(f"submitted [bold]{job['id']}[/] ({job['name'] or 'unnamed'}): {job['state']}")


def jobs(
    state: list[str] = typer.Option(None, "--state", help="Only jobs in this state (repeatable)."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    url: str = _URL,
    token: str = _TOKEN,
    as_json: bool = _JSON,
) -> None:
    """List your organisation's jobs, newest first."""
    with _client(url, token) as c:
        rows = c.jobs(state=state, limit=limit)["jobs"]
    if as_json:
        print_json(
            [
                {
                    k: j[k]
                    for k in (
                        "id",
                        "name",
                        "state",
                        "site",
                        "pool",
                        "attempt",
                        "gpus",
                        "kind",
                        "project",
                        "submitted_at",
                        "reason",
                        "message",
                    )
                }
                for j in rows
            ]
        )
        return
    t = Table("id", "name", "state", "site", "gpus", "attempt", "why / where")
    for j in rows:
        t.add_row(
            j["id"],
            j["name"],
            j["state"],
            j["site"] or "-",
            str(j["gpus"]),
            str(j["attempt"]),
            (j["message"] or "")[:80],
        )
    console.print(t)


def logs(
    job_id: str = typer.Argument(...),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep streaming until the job ends."),
    attempt: int = typer.Option(None, "--attempt", help="Attempt number (default: the latest)."),
    url: str = _URL,
    token: str = _TOKEN,
) -> None:
    """Print a job's output (stdout and stderr)."""
    with _client(url, token) as c:
        try:
            for chunk in c.logs(job_id, follow=follow, attempt=attempt):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass


def cancel(job_id: str = typer.Argument(...), url: str = _URL, token: str = _TOKEN, as_json: bool = _JSON) -> None:
    """Cancel a job (running jobs are stopped by their agent)."""
    with _client(url, token) as c:
        job = c.cancel(job_id)
    if as_json:
        print_json(job)
    else:
        console.print(f"{job['id']}: {job['state']}")


def explain(job_id: str = typer.Argument(...), url: str = _URL, token: str = _TOKEN, as_json: bool = _JSON) -> None:
    """Why a job waits (per site), or where it runs."""
    with _client(url, token) as c:
        out = c.explain(job_id)
    if as_json:
        print_json(out)
        return
    console.print(
        f"[bold]{out['job_id']}[/]: {out['state']} (attempt {out['attempt']})"
        + (f" on {out['site']}/{out['pool']}" if out.get("site") else "")
    )
    if out.get("reason") or out.get("message"):
        console.print(f"  {out.get('reason') or ''}: {out.get('message') or ''}")
    for b in out.get("budgets", []):
        who = f"org {b['org']}" if b["project"] is None else f"project {b['project']}"
        console.print(
            f"  budget of {who}: spent {b['spent_eur']:,.2f} of {b['budget_eur']:,.2f} EUR, "
            f"{b['remaining_eur']:,.2f} left" + (" [bold]- exhausted: jobs wait[/]" if b["exhausted"] else "")
        )
    if out["sites"]:
        t = Table("site", "eligible", "reason", "why")
        for v in out["sites"]:
            t.add_row(v["site"], "yes" if v["eligible"] else "no", v["reason"] or "-", v["message"])
        console.print(t)


def usage(url: str = _URL, token: str = _TOKEN, as_json: bool = _JSON) -> None:
    """GPU-hours, energy, carbon, cost and heat reused, per project; budgets with what remains."""
    with _client(url, token) as c:
        out = c.usage()
    if as_json:
        print_json(out)
        return
    t = Table(
        "project",
        "attempts",
        "GPU-h",
        "kWh (est.)",
        "kgCO2",
        "EUR",
        "heat reused kWh",
        title=f"usage of {out['tenant']}",
    )
    for p in [*out["projects"], {"project": "total", **out["total"]}]:
        t.add_row(
            p["project"] or "-",
            str(p["attempts"]),
            f"{p['gpu_hours']:.2f}",
            f"{p['energy_kwh']:.2f}",
            f"{p['carbon_g'] / 1000:.3f}",
            f"{p['cost_eur']:.2f}",
            f"{p['heat_reused_kwh']:.2f}",
        )
    console.print(t)
    r = out["running"]
    if r["jobs"]:
        console.print(
            f"running now: {r['jobs']} jobs on {r['gpus']} GPUs, {r['gpu_hours']:.2f} GPU-h so far (estimate)"
        )
    if out.get("budgets"):
        b_table = Table(
            "budget of",
            "budget EUR",
            "spent EUR",
            "remaining EUR",
            "status",
            title="budgets (spent: ended attempts + running jobs so far)",
        )
        for b in out["budgets"]:
            b_table.add_row(
                f"org {b['org']}" if b["project"] is None else f"project {b['project']}",
                f"{b['budget_eur']:,.2f}",
                f"{b['spent_eur']:,.2f}",
                f"{b['remaining_eur']:,.2f}",
                "exhausted: new jobs wait" if b["exhausted"] else "ok",
            )
        console.print(b_table)


def budget(
    org: str = typer.Argument(..., help="The organisation whose budget to set."),
    amount_eur: str = typer.Argument(
        None, metavar="AMOUNT_EUR", help="The new budget in EUR (0 admits no new job); omit with --clear."
    ),
    project: str = typer.Option(None, "--project", help="Set the budget of this project of ORG instead."),
    clear: bool = typer.Option(False, "--clear", help="Lift the budget (unlimited)."),
    url: str = _URL,
    token: str = _TOKEN,
    as_json: bool = _JSON,
) -> None:
    """Set or lift an organisation's or project's budget (admin token); held jobs start from the next pass."""
    if clear == (amount_eur is not None):
        fail("budget: give AMOUNT_EUR (a number of EUR, 0 or more) or --clear, not both and not neither")
    value: float | None = None
    if amount_eur is not None:
        try:
            value = float(amount_eur.replace("_", ""))
        except ValueError:
            fail(f"budget: AMOUNT_EUR {amount_eur!r} is not a number; give EUR as 0 or more, e.g. 1500")
        if not math.isfinite(value) or value < 0:
            fail(f"budget: AMOUNT_EUR {amount_eur!r} must be a finite number of EUR, 0 or more")
    with _client(url, token) as c:
        out = c.set_budget(org, value, project=project)
    if as_json:
        print_json(out)
        return
    what = f"project {project} of org {org}" if project else f"org {org}"
    console.print(f"budget of {what}: " + ("none (unlimited)" if value is None else f"{value:,.2f} EUR"))


def register(app: typer.Typer) -> None:
    for name, fn in (
        ("submit", submit),
        ("jobs", jobs),
        ("logs", logs),
        ("cancel", cancel),
        ("explain", explain),
        ("usage", usage),
        ("budget", budget),
    ):
        app.command(name=name)(fn)
