"""``hexagrid scenario ...``: list, show and validate scenario files (fleets, tenants, defaults)."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from hexagrid.cli.common import console, print_json
from hexagrid.domain import CATALOG, JobKind, Scenario, Site
from hexagrid.energy.power import job_facility_power_w
from hexagrid.errors import HexagridError, ValidationFailed
from hexagrid.scenarios import builtin_names, load_scenario

app = typer.Typer(
    help="Built-in and custom scenarios: a fleet of sites, its tenants and defaults.", no_args_is_help=True
)

__all__ = ["app", "scenario_diff", "scenario_summary", "site_provenance", "training_load_mw"]


def _gpus_by_accelerator(sites: list[Site]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for site in sites:
        for pool in site.pools:
            counts[pool.accelerator] += pool.gpus
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def training_load_mw(site: Site) -> float:
    """Facility MW with every GPU of the site training (the shared power model's default utilisation).

    Above ``power_mw``, the envelope binds before the GPUs run out (as at Sesterce Grand Est in 2028).
    """
    watts = sum(
        job_facility_power_w(CATALOG[p.accelerator], p.gpus, p.gpus_per_node, JobKind.TRAINING, site.pue)
        for p in site.pools
    )
    return watts / 1e6


def _site_row(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "name": site.name,
        "operator": site.operator,
        "kind": site.kind.value,
        "country": site.country,
        "region": site.region,
        "grid_zone": site.grid_zone,
        "power_mw": site.power_mw,
        "training_load_mw": round(training_load_mw(site), 6),
        "pue": site.pue,
        "cooling": site.cooling.value,
        "tier": site.tier.value,
        "access": site.access.value,
        "gpus": site.gpus,
        "gpus_by_accelerator": _gpus_by_accelerator([site]),
        "latitude": site.latitude,
        "longitude": site.longitude,
        "online_from": site.online_from.isoformat() if site.online_from else None,
        "online_until": site.online_until.isoformat() if site.online_until else None,
        "availability": site.availability,
        "heat_reuse_fraction": site.heat_reuse_fraction,
        "price_eur_per_gpu_h": dict(site.price_eur_per_gpu_h),
    }


def scenario_summary(scenario: Scenario) -> dict[str, Any]:
    """The JSON form of ``scenario show``: name, description, defaults, sites, tenants and totals."""
    return {
        "name": scenario.name,
        "description": scenario.description,
        "defaults": {**scenario.defaults.model_dump(mode="json"), "residency": str(scenario.defaults.residency)},
        "sites": [_site_row(s) for s in scenario.sites],
        "tenants": [
            {
                "id": t.id,
                "name": t.name,
                "class": t.tenant_class.value,
                "residency": str(t.residency),
                "fair_share_weight": t.fair_share_weight,
                "flexibility_h": t.flexibility_h,
                "budget_eur": t.budget_eur,
                "max_gpus": t.max_gpus,
                "projects": [p.id for p in t.projects],
            }
            for t in scenario.tenants
        ],
        "totals": {
            "sites": len(scenario.sites),
            "accelerators": scenario.fleet.gpus,
            "power_mw": round(scenario.fleet.power_mw, 6),
            "training_load_mw": round(sum(training_load_mw(s) for s in scenario.sites), 6),
            "accelerators_by_type": _gpus_by_accelerator(scenario.sites),
            "tenants": len(scenario.tenants),
        },
    }


def _mw(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".") if x < 10 else f"{x:,.1f}".rstrip("0").rstrip(".")


def _by_acc(counts: dict[str, int], sep: str = "\n") -> str:
    return sep.join(f"{acc} {n:,}" for acc, n in counts.items())


def _wide() -> Console:
    """Tables are wide: when stdout is not a terminal (a pipe, a file), do not squeeze them to 80 columns."""
    return console if console.is_terminal else Console(width=max(console.width, 200))


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of lines.")) -> None:
    """The built-in scenarios, one line each."""
    scenarios = [load_scenario(name) for name in builtin_names()]
    if as_json:
        print_json(
            [
                {
                    "name": s.name,
                    "description": s.description,
                    "sites": len(s.sites),
                    "accelerators": s.fleet.gpus,
                    "power_mw": round(s.fleet.power_mw, 6),
                    "start_date": s.defaults.start_date.isoformat(),
                }
                for s in scenarios
            ]
        )
        return
    for s in scenarios:
        name = s.name
        console.print(
            f"[bold]{name:<12}[/] {len(s.sites):>3} sites {s.fleet.gpus:>10,} GPUs {_mw(s.fleet.power_mw):>8} MW  "
            f"{s.description}",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def show(
    scenario: str = typer.Argument(..., help="A built-in name (see 'scenario list') or a YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    site: str | None = typer.Option(
        None, "--site", help="Show one site field by field, with the source or estimate behind each number."
    ),
) -> None:
    """Sites (kind, country, zone, MW, PUE, cooling, tier, access, GPUs by accelerator), tenants and totals."""
    sc = load_scenario(scenario)
    if site is not None:
        _show_site(sc.fleet.site(site), as_json)
        return
    summary = scenario_summary(sc)
    if as_json:
        print_json(summary)
        return
    out = _wide()
    out.print(f"[bold]{sc.name}[/]: {sc.description}", highlight=False)
    d = sc.defaults
    out.print(
        f"defaults: start {d.start_date}, carbon year {d.carbon_year}, residency {d.residency}, "
        f"objective {d.objective.value}",
        highlight=False,
    )
    table = Table(title="Sites", show_footer=True)
    totals = summary["totals"]
    table.add_column("site", footer="total", no_wrap=True)
    table.add_column("kind")
    table.add_column("country", footer="")
    table.add_column("zone")
    table.add_column("MW", justify="right", footer=_mw(totals["power_mw"]))
    table.add_column("MW all training", justify="right", footer=_mw(totals["training_load_mw"]))
    table.add_column("PUE", justify="right")
    table.add_column("cooling")
    table.add_column("tier")
    table.add_column("access")
    table.add_column("GPUs by accelerator", footer=_by_acc(totals["accelerators_by_type"]))
    table.add_column("GPUs", justify="right", footer=f"{totals['accelerators']:,}")
    for row in summary["sites"]:
        table.add_row(
            row["id"],
            row["kind"],
            row["country"],
            row["grid_zone"],
            _mw(row["power_mw"]),
            # red: the envelope binds before the GPUs run out
            (
                f"[red]{_mw(row['training_load_mw'])}[/]"
                if row["training_load_mw"] > row["power_mw"]
                else _mw(row["training_load_mw"])
            ),
            f"{row['pue']:.2f}",
            row["cooling"],
            row["tier"],
            row["access"],
            _by_acc(row["gpus_by_accelerator"]),
            f"{row['gpus']:,}",
        )
    out.print(table)
    out.print(
        "MW all training: facility power with every GPU training (hexagrid.energy.power, estimate); "
        "[red]red[/] where it exceeds the envelope, which then binds before the GPUs run out.",
        highlight=False,
    )
    if sc.tenants:
        tenants = Table(title="Tenants")
        for col, justify in (
            ("tenant", "left"),
            ("class", "left"),
            ("residency", "left"),
            ("weight", "right"),
            ("flex h", "right"),
            ("budget EUR", "right"),
            ("max GPUs", "right"),
            ("allocations GPU-h", "left"),
        ):
            tenants.add_column(col, justify=justify)  # type: ignore[arg-type]
        for t in sc.tenants:
            alloc: Counter[str] = Counter()
            for p in t.projects:
                alloc.update(p.allocations_gpu_h)
            tenants.add_row(
                t.id,
                t.tenant_class.value,
                str(t.residency),
                f"{t.fair_share_weight:g}",
                f"{t.flexibility_h:g}",
                "" if t.budget_eur is None else f"{t.budget_eur:,.0f}",
                "" if t.max_gpus is None else f"{t.max_gpus:,}",
                "\n".join(f"{site} {hours:,.0f}" for site, hours in alloc.items()),
            )
        out.print(tenants)
    out.print(
        f"{totals['sites']} sites, {totals['accelerators']:,} GPUs, {_mw(totals['power_mw'])} MW, "
        f"{totals['tenants']} tenants",
        highlight=False,
    )


def site_provenance(site: Site) -> list[dict[str, Any]]:
    """Each field the file set, its value, and where the number comes from (FACTS source, estimate, or none)."""
    rows: list[dict[str, Any]] = []
    for name in site.model_fields_set - {"sources", "estimates"}:
        value = getattr(site, name)
        if name == "pools":
            value = [f"{p.id}: {p.nodes:,} x {p.gpus_per_node} {p.accelerator}" for p in value]
        elif isinstance(value, dict):
            value = dict(value)
        elif hasattr(value, "value"):
            value = value.value
        elif not isinstance(value, int | float | str | list | type(None)):
            value = str(value)
        rows.append(
            {"field": name, "value": value, "source": site.sources.get(name), "estimate": site.estimates.get(name)}
        )
    order = list(type(site).model_fields)
    return sorted(rows, key=lambda r: order.index(r["field"]))


def _show_site(site: Site, as_json: bool) -> None:
    rows = site_provenance(site)
    if as_json:
        print_json(
            {"id": site.id, "gpus": site.gpus, "training_load_mw": round(training_load_mw(site), 6), "fields": rows}
        )
        return
    out = _wide()
    table = Table(title=f"{site.id}: {site.name} ({site.operator})")
    table.add_column("field", no_wrap=True)
    table.add_column("value")
    table.add_column("from")
    for r in rows:
        value = r["value"]
        shown = (
            "\n".join(value)
            if isinstance(value, list)
            else (", ".join(f"{k} {v:g}" for k, v in value.items()) if isinstance(value, dict) else str(value))
        )
        why = (f"[green]{r['source']}[/]" if r["source"] else "") + ("\n" if r["source"] and r["estimate"] else "")
        why += f"[yellow]{r['estimate']}[/]" if r["estimate"] else ""
        table.add_row(r["field"], shown, why)
    out.print(table)
    out.print(
        f"{site.gpus:,} GPUs; {_mw(training_load_mw(site))} MW with every GPU training (estimate) "
        f"against an envelope of {_mw(site.power_mw)} MW. [green]green[/]: FACTS; [yellow]yellow[/]: estimate.",
        highlight=False,
    )


def scenario_diff(a: Scenario, b: Scenario) -> dict[str, Any]:
    """Sites and tenants added, removed and changed (field by field) from ``a`` to ``b``, with total deltas."""

    def compact(obj: Any) -> dict[str, Any]:
        d: dict[str, Any] = obj.model_dump(mode="json", by_alias=True, exclude={"sources", "estimates"})
        if "pools" in d:  # one readable line per pool
            d["pools"] = [f"{p['id']}: {p['nodes']:,} x {p['gpus_per_node']} {p['accelerator']}" for p in d["pools"]]
        if "projects" in d:
            d["projects"] = [
                p["id"] + "".join(f" {site} {h:,.0f} GPU-h" for site, h in p["allocations_gpu_h"].items())
                for p in d["projects"]
            ]
        return d

    def changes(x: Any, y: Any) -> dict[str, Any]:
        dx, dy = compact(x), compact(y)
        return {
            k: {"from": dx.get(k), "to": dy.get(k)} for k in sorted(dx.keys() | dy.keys()) if dx.get(k) != dy.get(k)
        }

    out: dict[str, Any] = {"from": a.name, "to": b.name}
    for key, xs, ys in (("sites", a.sites, b.sites), ("tenants", a.tenants, b.tenants)):
        xa, yb = {e.id: e for e in xs}, {e.id: e for e in ys}
        out[key] = {
            "added": [i for i in yb if i not in xa],
            "removed": [i for i in xa if i not in yb],
            "changed": {i: c for i in xa if i in yb and (c := changes(xa[i], yb[i]))},
        }
    out["totals"] = {
        "accelerators": {"from": a.fleet.gpus, "to": b.fleet.gpus},
        "power_mw": {"from": round(a.fleet.power_mw, 6), "to": round(b.fleet.power_mw, 6)},
    }
    return out


@app.command()
def diff(
    a: str = typer.Argument(..., help="The scenario to compare from (built-in name or file)."),
    b: str = typer.Argument(..., help="The scenario to compare to."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """What changes from one scenario to another: sites and tenants added, removed, changed; totals."""
    d = scenario_diff(load_scenario(a), load_scenario(b))
    if as_json:
        print_json(d)
        return
    out = _wide()
    table = Table(title=f"{d['from']} -> {d['to']}")
    table.add_column("what", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("change")
    for key in ("sites", "tenants"):
        for i in d[key]["added"]:
            table.add_row(key[:-1], i, "[green]added[/]")
        for i in d[key]["removed"]:
            table.add_row(key[:-1], i, "[red]removed[/]")
        for i, fields in d[key]["changed"].items():
            lines = [f"{f}: {_short(v['from'])} -> {_short(v['to'])}" for f, v in sorted(fields.items())]
            table.add_row(key[:-1], i, "\n".join(lines))
    out.print(table)
    t = d["totals"]
    out.print(
        f"GPUs {t['accelerators']['from']:,} -> {t['accelerators']['to']:,}; "
        f"MW {_mw(t['power_mw']['from'])} -> {_mw(t['power_mw']['to'])}",
        highlight=False,
    )


def _short(value: Any) -> str:
    text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


@app.command()
def validate(
    scenarios: list[str] = typer.Argument(..., help="YAML files or built-in names (one or more)."),
) -> None:
    """Check scenario files: "ok: ..." for each good one; exit 2 with one line per error if any is bad."""
    failed = False
    for scenario in scenarios:
        try:
            sc = load_scenario(scenario)
        except ValidationFailed as exc:
            failed = True
            for line in exc.lines():
                sys.stderr.write(f"hexagrid: error: {line}\n")
            continue
        except HexagridError as exc:
            failed = True
            sys.stderr.write(f"hexagrid: error: {exc}\n")
            continue
        typer.echo(f"ok: {scenario} ({len(sc.sites)} sites, {sc.fleet.gpus:,} GPUs, {_mw(sc.fleet.power_mw)} MW)")
    if failed:
        raise typer.Exit(2)
