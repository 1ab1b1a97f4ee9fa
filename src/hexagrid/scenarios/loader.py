"""Load scenario files (YAML) into :class:`~hexagrid.domain.Scenario`, reporting every error at once.

A scenario is a built-in name (``france-2026``) or a path. A file may start from another with
``extends: <built-in name or relative path>``: its ``sites`` and ``tenants`` are added to the base's,
an entry whose ``id`` matches one of the base replaces it whole, ``defaults`` are merged key by key
and ``notes`` are appended. ``extends`` is resolved here, so :class:`Scenario` stays plain data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hexagrid.domain.geography import ISO_COUNTRIES
from hexagrid.domain.kinds import SiteKind
from hexagrid.domain.scenario import Scenario
from hexagrid.errors import FieldError, NotFound, ValidationFailed
from hexagrid.scenarios.validation import field_errors, load_yaml, show_value

__all__ = ["BUILTIN_DIR", "builtin_names", "builtin_path", "dump_scenario", "load_scenario", "parse_scenario"]

#: Where the built-in scenario files live (package data).
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"

_TOP_EXTRA = ("extends",)
#: Messages of the domain's cross-reference validators; the loader reports these itself, per entry and
#: even when other fields are wrong (pydantic skips model validators then), so it drops pydantic's copy.
_DOMAIN_REFERENCE_MESSAGES = (
    "site ids must be unique",
    "tenant ids must be unique",
    "pool ids must be unique",
    "project ids must be unique",
)


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def builtin_path(name: str) -> Path:
    """The file of built-in scenario ``name``; NotFound lists the built-ins."""
    path = BUILTIN_DIR / f"{name}.yaml"
    if "/" in name or "\\" in name or not path.is_file():
        raise NotFound(f"no built-in scenario {name!r}; built-in scenarios: {', '.join(builtin_names())}")
    return path


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.endswith((".yaml", ".yml")) or text.startswith(".")


def _resolve_ref(ref: str | Path, base_dir: Path | None) -> Path:
    """A built-in name or a path (relative to ``base_dir`` when given) -> an existing file."""
    if isinstance(ref, Path) or _looks_like_path(ref):
        path = Path(ref)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if path.is_dir():
            raise NotFound(
                f"scenario path {str(path)!r} is a directory; give a YAML file or a built-in name "
                f"({', '.join(builtin_names())})"
            )
        if not path.is_file():
            raise NotFound(f"scenario file {str(path)!r} not found; built-in scenarios: {', '.join(builtin_names())}")
        return path
    if (BUILTIN_DIR / f"{ref}.yaml").is_file():
        return BUILTIN_DIR / f"{ref}.yaml"
    if Path(ref).is_file():
        return Path(ref)
    raise NotFound(
        f"no scenario {ref!r}: neither a built-in name nor a file; built-in scenarios: {', '.join(builtin_names())}"
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a built-in scenario by name, or a scenario file by path; raise ValidationFailed with all errors."""
    path = _resolve_ref(name_or_path, None)
    return _load_file(path, ())


def parse_scenario(text: str, source: str, *, base_dir: Path | None = None) -> Scenario:
    """Validate scenario YAML ``text``; ``source`` names it in errors. ``extends`` resolves from ``base_dir``."""
    if base_dir is None and source and Path(source).parent != Path():
        base_dir = Path(source).parent
    return _parse(text, source, base_dir, ())


def dump_scenario(scenario: Scenario) -> str:
    """YAML text of a scenario, fully expanded (no ``extends``), that loads back to an equal Scenario.

    Fields left at their defaults are omitted so that the file reads like a hand-written one.
    """
    data = scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data.setdefault("name", scenario.name)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            str(path), [FieldError("", f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")]
        ) from None
    except OSError as exc:
        raise NotFound(f"cannot read scenario file {str(path)!r}: {exc.strerror}") from None


def _load_file(path: Path, chain: tuple[Path, ...]) -> Scenario:
    real = path.resolve()
    if real in chain:
        cycle = " -> ".join(str(p) for p in (*chain, real))
        raise ValidationFailed(str(path), [FieldError("extends", f"extends forms a cycle: {cycle}")])
    return _parse(_read(path), str(path), path.parent, (*chain, real))


def _raw_document(text: str, source: str) -> dict[str, Any]:
    data = load_yaml(text, source)
    if data is None:
        raise ValidationFailed(
            source,
            [
                FieldError(
                    "",
                    "the file is empty; a scenario is a mapping with at least name and sites (see docs/scenarios.md)",
                )
            ],
        )
    if not isinstance(data, dict):
        raise ValidationFailed(
            source,
            [
                FieldError(
                    "", f"the top level must be a mapping of fields (name, sites, tenants, ...), got {show_value(data)}"
                )
            ],
        )
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise ValidationFailed(source, [FieldError("", f"field names must be text, got {show_value(bad_keys[0])}")])
    return data


class _Origin:
    """Where each entry of a merged list came from, so error paths point into the right file."""

    def __init__(self) -> None:
        self.sites: list[tuple[str | None, int]] = []  # (base name or None for this file, index there)
        self.tenants: list[tuple[str | None, int]] = []

    _REF = re.compile(r"\b(sites|tenants)\[(\d+)\]")

    def _one(self, m: re.Match[str]) -> str:
        origins = self.sites if m.group(1) == "sites" else self.tenants
        idx = int(m.group(2))
        if idx >= len(origins):
            return m.group(0)
        base, own = origins[idx]
        return f"{base}:{m.group(1)}[{own}]" if base is not None else f"{m.group(1)}[{own}]"

    def rewrite(self, error: FieldError) -> FieldError:
        """Map merged-list indices in the path and the message back to the file that wrote the entry."""
        return FieldError(self._REF.sub(self._one, error.path), self._REF.sub(self._one, error.message))


def _merge_by_id(base: list[Any], own: list[Any], base_name: str) -> tuple[list[Any], list[tuple[str | None, int]]]:
    merged = list(base)
    origin: list[tuple[str | None, int]] = [(base_name, i) for i in range(len(base))]
    position = {e["id"]: i for i, e in enumerate(base) if isinstance(e, dict) and isinstance(e.get("id"), str)}
    replaced: set[Any] = set()
    for i, entry in enumerate(own):
        key = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(key, str) and key in position and key not in replaced:
            merged[position[key]] = entry
            origin[position[key]] = (None, i)
            replaced.add(key)
        else:
            merged.append(entry)
            origin.append((None, i))
    return merged, origin


def _apply_extends(
    data: dict[str, Any], source: str, base_dir: Path | None, chain: tuple[Path, ...]
) -> tuple[dict[str, Any], _Origin]:
    origin = _Origin()
    ref = data.pop("extends", None)
    if ref is None:
        for key in ("sites", "tenants"):
            entries = data.get(key)
            setattr(origin, key, [(None, i) for i in range(len(entries))] if isinstance(entries, list) else [])
        return data, origin
    if not isinstance(ref, str) or not ref:
        raise ValidationFailed(
            source, [FieldError("extends", f"must be a built-in scenario name or a file path, got {show_value(ref)}")]
        )
    try:
        base_path = _resolve_ref(ref, base_dir)
    except NotFound as exc:
        raise ValidationFailed(source, [FieldError("extends", str(exc))]) from None
    base = _load_file(base_path, chain)  # validated on its own: its errors name its own file
    base_raw = base.model_dump(mode="json", by_alias=True, exclude_unset=True)
    for key in ("sites", "tenants"):
        own = data.get(key, [])
        if not isinstance(own, list):
            return data, origin  # pydantic reports the wrong type at its path
        data[key], where = _merge_by_id(base_raw.get(key, []), own, base.name)
        setattr(origin, key, where)
    own_defaults = data.get("defaults", {})
    if isinstance(own_defaults, dict):
        data["defaults"] = {**base_raw.get("defaults", {}), **own_defaults}
    own_notes = data.get("notes", [])
    if isinstance(own_notes, list):
        data["notes"] = [*base_raw.get("notes", []), *own_notes]
    data.setdefault("description", base.description)
    return data, origin


def _dict_list(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, e) for i, e in enumerate(value) if isinstance(e, dict)]


def _duplicates(entries: list[tuple[int, dict[str, Any]]], where: str, what: str, scope: str = "") -> list[FieldError]:
    first: dict[Any, int] = {}
    errors: list[FieldError] = []
    for i, entry in entries:
        key = entry.get("id")
        if not isinstance(key, str):
            continue
        if key in first:
            errors.append(
                FieldError(
                    f"{where}[{i}].id",
                    f"duplicate {what} id {key!r}{scope} (first at {where}[{first[key]}]); {what} ids must be unique",
                )
            )
        else:
            first[key] = i
    return errors


def _reference_errors(data: dict[str, Any]) -> list[FieldError]:
    """Cross-entry checks on the raw document, so that they are reported next to field errors."""
    errors: list[FieldError] = []
    sites = _dict_list(data, "sites")
    errors += _duplicates(sites, "sites", "site")
    for i, site in sites:
        zone, country = site.get("grid_zone"), site.get("country")
        # only for a valid country: a bad one is reported at its own field, once
        if (
            isinstance(zone, str)
            and isinstance(country, str)
            and country in ISO_COUNTRIES
            and zone.split("-")[0] != country
        ):
            errors.append(
                FieldError(
                    f"sites[{i}].grid_zone",
                    f"grid zone {zone!r} is not in the site's country {country!r}; Electricity Maps zones start "
                    f"with their country code (FR, DE, SE-SE3)",
                )
            )
        pools = _dict_list(site, "pools")
        errors += [
            FieldError(f"sites[{i}].{e.path}", e.message)
            for e in _duplicates(pools, "pools", "pool", f" in site {site.get('id')!r}")
        ]
    kinds = {
        s.get("id"): s.get("kind") if isinstance(s.get("kind"), str) else None
        for _, s in sites
        if isinstance(s.get("id"), str)
    }
    known_kinds = {k.value for k in SiteKind}
    tenants = _dict_list(data, "tenants")
    errors += _duplicates(tenants, "tenants", "tenant")
    for t, tenant in tenants:
        projects = _dict_list(tenant, "projects")
        errors += [
            FieldError(f"tenants[{t}].{e.path}", e.message)
            for e in _duplicates(projects, "projects", "project", f" in tenant {tenant.get('id')!r}")
        ]
        for p, project in projects:
            allocations = project.get("allocations_gpu_h")
            if not isinstance(allocations, dict):
                continue
            for site_id in allocations:
                path = f"tenants[{t}].projects[{p}].allocations_gpu_h.{site_id}"
                if site_id not in kinds:
                    errors.append(
                        FieldError(
                            path, f"allocation on unknown site {site_id!r}; sites: {', '.join(str(k) for k in kinds)}"
                        )
                    )
                elif kinds[site_id] in known_kinds and kinds[site_id] != SiteKind.PUBLIC_SUPERCOMPUTER.value:
                    errors.append(
                        FieldError(
                            path,
                            f"allocation on site {site_id!r} of kind {kinds[site_id]}; "
                            f"GPU-hour allocations are granted on public_supercomputer sites "
                            f"only (private sites charge price_eur_per_gpu_h)",
                        )
                    )
    return errors


def _sort_key(error: FieldError) -> tuple[int, int, list[int]]:
    """Document order: errors in entries taken from a base file last, then by field, then by index."""
    order = {"name": 0, "extends": 1, "description": 2, "defaults": 3, "sites": 4, "tenants": 5, "notes": 6}
    from_base = ":" in error.path.split(".")[0]
    head = (
        error.path.split(":")[-1].split("[")[0].split(".")[0] if from_base else error.path.split("[")[0].split(".")[0]
    )
    indices = [int(x) for x in re.findall(r"\[(\d+)\]", error.path)]
    return int(from_base), order.get(head, 7), indices


def _parse(text: str, source: str, base_dir: Path | None, chain: tuple[Path, ...]) -> Scenario:
    data = _raw_document(text, source)
    data, origin = _apply_extends(data, source, base_dir, chain)
    reference = _reference_errors(data)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        errors = [
            e
            for e in field_errors(exc, Scenario, extra_top_keys=_TOP_EXTRA)
            if not (
                e.message.startswith(_DOMAIN_REFERENCE_MESSAGES) or " has allocations on unknown sites " in e.message
            )
        ]
        errors += [e for e in reference if e not in errors]
        raise ValidationFailed(source, _rewrite(errors, origin)) from None
    if reference:
        raise ValidationFailed(source, _rewrite(reference, origin))
    return scenario


def _rewrite(errors: Sequence[FieldError], origin: _Origin) -> list[FieldError]:
    return sorted((origin.rewrite(e) for e in errors), key=_sort_key)
