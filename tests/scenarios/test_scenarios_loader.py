"""The loader's API: names and paths, extends, strict YAML, and the phrasing of translated errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from hexagrid.domain import Residency, Scenario
from hexagrid.errors import NotFound, ValidationFailed
from hexagrid.scenarios import (
    BUILTIN_DIR,
    builtin_names,
    builtin_path,
    dump_scenario,
    field_errors,
    format_path,
    load_scenario,
    load_yaml,
    parse_scenario,
)

VALID = Path(__file__).parent / "valid"


def failure(text: str, source: str = "doc.yaml") -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        parse_scenario(text, source)
    assert exc.value.source == source
    return exc.value


# ------------------------------------------------------------------------------------------ names


def test_builtin_names_and_paths() -> None:
    assert builtin_names() == ["europe-2026", "france-2025", "france-2026", "france-2028"]
    assert builtin_path("france-2026") == BUILTIN_DIR / "france-2026.yaml"
    with pytest.raises(NotFound, match="no built-in scenario 'x'; built-in scenarios: europe-2026, france-2025"):
        builtin_path("x")
    with pytest.raises(NotFound):
        builtin_path("../builtin/france-2025")


def test_load_by_name_path_and_str() -> None:
    by_name = load_scenario("france-2025")
    assert by_name.name == "france-2025"
    assert load_scenario(BUILTIN_DIR / "france-2025.yaml") == by_name
    assert load_scenario(str(VALID / "minimal.yaml")).name == "minimal"


def test_unknown_name_and_missing_file_list_builtins(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"no scenario 'atlantis-2030'.*built-in scenarios: europe-2026, france-2025"):
        load_scenario("atlantis-2030")
    with pytest.raises(NotFound, match=r"scenario file '.*nope.yaml' not found; built-in scenarios: europe-2026"):
        load_scenario(tmp_path / "nope.yaml")
    with pytest.raises(NotFound, match="is a directory"):
        load_scenario(str(tmp_path) + "/")


def test_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValidationFailed, match="not UTF-8"):
        load_scenario(bad)


# ------------------------------------------------------------------------------------------ YAML


def test_yaml_keeps_norway_and_dates_as_text() -> None:
    data = load_yaml("country: NO\nanswer: yes\nflag: true\nday: 2026-01-01\n", "x")
    assert data == {"country": "NO", "answer": "yes", "flag": True, "day": "2026-01-01"}


def test_yaml_errors_have_line_and_column() -> None:
    with pytest.raises(ValidationFailed) as exc:
        load_yaml("a: 1\nb: [1, 2\n", "f.yaml")
    assert exc.value.lines()[0].startswith("f.yaml: line 3, column 1: YAML syntax error")
    with pytest.raises(ValidationFailed, match="duplicate key 'a' \\(first at line 1\\)"):
        load_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")


def test_a_norwegian_site_loads() -> None:
    text = (VALID / "minimal.yaml").read_text()
    cloud = text.index("id: cloud")
    text = text[:cloud] + text[cloud:].replace("country: FR", "country: NO", 1).replace(
        "grid_zone: FR", "grid_zone: NO-NO1", 1
    )
    sc = parse_scenario(text, "nordic.yaml")
    assert (sc.sites[1].country, sc.sites[1].grid_zone) == ("NO", "NO-NO1")


def test_top_level_shapes() -> None:
    assert failure("").errors[0].message.startswith("the file is empty")
    assert "got a list" in failure("- a\n- b\n").errors[0].message
    assert "got 'just text'" in failure("just text\n").errors[0].message
    assert "field names must be text" in failure("1: a\n").errors[0].message


# --------------------------------------------------------------------------------------- extends


def test_extends_replaces_by_id_adds_and_merges() -> None:
    base = load_scenario("france-2025")
    mine = load_scenario(VALID / "extends_builtin.yaml")
    ids = [s.id for s in mine.sites]
    assert ids == [*(s.id for s in base.sites), "extra-cloud"]  # replaced in place, new one appended
    assert mine.fleet.site("scaleway-paris").gpus == 80  # the file's version, not the base's 5,000
    assert mine.defaults.start_date.isoformat() == "2025-06-01"
    assert mine.defaults.carbon_year == base.defaults.carbon_year  # merged key by key
    assert mine.notes[: len(base.notes)] == base.notes and mine.notes[-1] == "local variant"
    assert mine.tenants == base.tenants
    assert mine.description == base.description


def test_builtin_chain_extends() -> None:
    f25, f26, f28 = (load_scenario(n) for n in ("france-2025", "france-2026", "france-2028"))
    assert {s.id for s in f25.sites} < {s.id for s in f26.sites} < {s.id for s in f28.sites}
    assert f26.fleet.site("fluidstack-fr").gpus == 60_000
    assert f28.fleet.site("fluidstack-fr").gpus == 500_000  # replaced by the 2028 file
    assert f28.tenant("ai-lab-paris") == f26.tenant("ai-lab-paris")
    assert f26.tenant("ai-lab-paris") != f25.tenant("ai-lab-paris")  # 2026 adds Alice Recoque hours


def test_extends_errors_point_into_the_right_file(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text(
        "name: child\nextends: france-2025\nsites:\n"
        "  - {id: jean-zay, name: JZ}\n"  # replaces the base's site, but incompletely
    )
    with pytest.raises(ValidationFailed) as exc:
        load_scenario(child)
    paths = {e.path for e in exc.value.errors}
    assert "sites[0].kind" in paths and "sites[0].power_mw" in paths  # index 0 in child.yaml
    assert exc.value.source == str(child)


def test_base_entries_broken_by_the_child_are_named_with_the_base(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text(  # jean-zay becomes a private cloud: the base's tenants hold allocations on it
        "name: child\nextends: france-2025\nsites:\n"
        "  - {id: jean-zay, name: JZ, operator: o, kind: private_cloud, access: both, country: FR, region: r,\n"
        "     latitude: 48.7, longitude: 2.2, grid_zone: FR, power_mw: 5, cooling: air, pue: 1.3,\n"
        "     price_eur_per_gpu_h: {H100: 2}, pools: [{id: h, accelerator: H100, gpus_per_node: 8, nodes: 4}]}\n"
    )
    with pytest.raises(ValidationFailed) as exc:
        load_scenario(child)
    paths = [e.path for e in exc.value.errors]
    assert paths[0] == "france-2025:tenants[0].projects[0].allocations_gpu_h.jean-zay"
    assert all(p.startswith("france-2025:tenants[") for p in paths)
    assert "of kind private_cloud" in exc.value.errors[0].message


def test_extends_relative_path_and_cycles(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "base.yaml").write_text((VALID / "minimal.yaml").read_text())
    (tmp_path / "sub" / "child.yaml").write_text("name: child\nextends: ../base.yaml\n")
    assert [s.id for s in load_scenario(tmp_path / "sub" / "child.yaml").sites] == ["hpc", "cloud"]
    (tmp_path / "a.yaml").write_text("name: a\nextends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("name: b\nextends: a.yaml\n")
    with pytest.raises(ValidationFailed, match="extends forms a cycle"):
        load_scenario(tmp_path / "a.yaml")
    with pytest.raises(ValidationFailed, match="extends: must be a built-in scenario name or a file path, got 5"):
        parse_scenario("name: x\nextends: 5\n", "x.yaml")


def test_extends_reports_base_errors_with_base_file(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("name: base\nsites: []\n")
    (tmp_path / "child.yaml").write_text("name: child\nextends: base.yaml\n")
    with pytest.raises(ValidationFailed) as exc:
        load_scenario(tmp_path / "child.yaml")
    assert exc.value.source == str(tmp_path / "base.yaml")


# ------------------------------------------------------------------------------- error phrasing


class _Demo(BaseModel):
    model_config = {"extra": "forbid"}
    count: int = Field(ge=1, le=16)
    weight: float = Field(gt=0)
    share: float = Field(ge=0, lt=1)
    cap: int = Field(default=1, le=10)
    flag: bool = False
    tags: list[str] = Field(default_factory=list)
    label: str = Field(default="x", min_length=1, max_length=5)
    where: Residency = Field(default_factory=lambda: Residency(scope="ANY"))


def _messages(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as exc:
        _Demo.model_validate(doc)
    return {e.path: e.message for e in field_errors(exc.value, _Demo)}


def test_phrasing_of_each_error_kind() -> None:
    got = _messages(
        {
            "count": 0,
            "weight": 0,
            "share": 1,
            "cap": 11,
            "flag": "maybe",
            "tags": "a",
            "label": "",
            "where": 5,
            "extra": 1,
        }
    )
    assert got == {
        "count": "must be between 1 and 16, got 0",
        "weight": "must be greater than 0, got 0",
        "share": "must be at least 0 and less than 1, got 1",
        "cap": "must be at most 10, got 11",
        "flag": "must be true or false, got 'maybe'",
        "tags": "must be a list, got 'a'",
        "label": "must not be empty",
        "where": "must be FR, EU, ANY or a list of country codes, got 5",
        "extra": "unknown field 'extra'; accepted: count, weight, share, cap, flag, tags, label, where",
    }
    assert _messages({"weight": "heavy", "share": 0.5, "label": "toolong"}) == {
        "count": "required field is missing",
        "weight": "must be a number, got 'heavy'",
        "label": "must be at most 5 characters, got 7",
    }


def test_field_errors_prefix_and_format_path() -> None:
    with pytest.raises(ValidationError) as exc:
        _Demo.model_validate({"count": 0, "weight": 1, "share": 0})
    assert [str(e) for e in field_errors(exc.value, _Demo, prefix=("jobs", 2))] == [
        "jobs[2].count: must be between 1 and 16, got 0"
    ]
    assert format_path(("sites", 3, "pools", 0, "gpus_per_node")) == "sites[3].pools[0].gpus_per_node"
    assert format_path(()) == ""


def test_validation_failed_lines() -> None:
    err = failure("name: x\nsites: [{id: a}]\nextra: 1\n", "f.yaml")
    assert len(err.errors) > 5
    assert all(line.startswith("f.yaml: ") for line in err.lines())
    assert str(err).count("\n") == len(err.errors) - 1


def test_parse_scenario_result_is_a_plain_scenario() -> None:
    sc = parse_scenario((VALID / "minimal.yaml").read_text(), "minimal.yaml")
    assert isinstance(sc, Scenario)
    assert sc.fleet.gpus == 400 + 400


@pytest.mark.parametrize("name", ["france-2025", "france-2028", "europe-2026"])
def test_dump_round_trips(name: str) -> None:
    sc = load_scenario(name)
    text = dump_scenario(sc)
    assert "extends" not in text and text.startswith(f"name: {name}\n")
    assert parse_scenario(text, f"{name}-dumped.yaml") == sc
