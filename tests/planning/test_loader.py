"""Planning files fail with one line per problem, naming the field, the value and what is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from planning_helpers import doc

from hexagrid.errors import NotFound, ValidationFailed
from hexagrid.planning import builtin_names, load_planning


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def _errors(tmp_path: Path, data: object) -> list[str]:
    with pytest.raises(ValidationFailed) as exc:
        load_planning(_write(tmp_path, data))
    return exc.value.lines()


def test_builtin_france_2030_loads_with_35_sites() -> None:
    assert "france-2030" in builtin_names()
    scn = load_planning("france-2030")
    assert len(scn.sites) == 35
    assert len({s.region for s in scn.sites}) >= 12
    at_once = sum(s.grid_mw(2027) for s in scn.sites)
    assert 2800 <= at_once <= 3200  # FACTS: about 3 GW available at once
    committed = {s.id for s in scn.sites if s.committed}
    assert {"fluidstack-campus", "sesterce-grand-est-1", "sesterce-grand-est-2"} <= committed
    fluid = next(s for s in scn.sites if s.id == "fluidstack-campus")
    assert max(c.mw for c in fluid.committed) == 1000


def test_negative_grid_names_the_field(tmp_path: Path) -> None:
    d = doc()
    d["sites"][1]["grid"][0]["mw"] = -5
    lines = _errors(tmp_path, d)
    assert len(lines) == 1
    assert "sites[1].grid[0].mw" in lines[0] and "-5" in lines[0]


def test_unknown_accelerator_and_bad_shares_are_all_reported(tmp_path: Path) -> None:
    d = doc()
    d["accelerators"][0]["name"] = "Z9000"
    d["demand"][0]["residency"] = {"FR": 0.5, "EU": 0.2}
    d["demand"][0]["kind"] = {"training": 1.0, "cooking": 0.0}
    lines = _errors(tmp_path, d)
    text = "\n".join(lines)
    assert "accelerators[0]" in text and "Z9000" in text
    assert "demand[0].residency" in text and "sum to 1" in text
    assert "demand[0].kind" in text and "cooking" in text
    assert all(line.startswith(str(tmp_path)) for line in lines)


def test_unknown_field_and_missing_field(tmp_path: Path) -> None:
    d = doc()
    d["sites"][0]["grid_mega_watts"] = 3
    del d["energy_price_eur_per_mwh"]
    text = "\n".join(_errors(tmp_path, d))
    assert "sites[0].grid_mega_watts" in text
    assert "energy_price_eur_per_mwh" in text


def test_cross_field_rules(tmp_path: Path) -> None:
    d = doc()
    d["sites"][0]["cooling_options"] = ["unobtainium"]
    text = "\n".join(_errors(tmp_path, d))
    assert "unobtainium" in text and "dlc" in text
    d = doc(end_year=2020)
    assert "end_year" in "\n".join(_errors(tmp_path, d))
    d = doc()
    d["sites"][0]["committed"] = [{"year": 2026, "mw": 1, "accelerators": {"B200": 8}}]
    assert "B200 is not on the roadmap" in "\n".join(_errors(tmp_path, d))


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    assert _errors(tmp_path, [1, 2])
    p = tmp_path / "broken.yaml"
    p.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as exc:
        load_planning(p)
    assert "line" in str(exc.value)


def test_unknown_name_lists_builtins() -> None:
    with pytest.raises(NotFound, match="france-2030"):
        load_planning("atlantis-2040")
