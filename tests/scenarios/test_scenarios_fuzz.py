"""Whatever a file holds, loading it either succeeds or raises ValidationFailed: never another exception."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hexagrid.errors import ValidationFailed
from hexagrid.scenarios import parse_scenario
from hexagrid.scenarios.validation import load_yaml

VALID = Path(__file__).parent / "valid"
BASE: dict[str, Any] = load_yaml((VALID / "minimal.yaml").read_text(), "minimal.yaml")
EXTENDS: dict[str, Any] = load_yaml((VALID / "extends_builtin.yaml").read_text(), "extends_builtin.yaml")

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(BASE) if p]
EXTENDS_PATHS = [p for p in _paths(EXTENDS) if p]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def _check(base: dict[str, Any], mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc = copy.deepcopy(base)
    for path, value in mutations:
        try:
            _set(doc, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the parent
    text = yaml.safe_dump(doc, allow_unicode=True)
    try:
        parse_scenario(text, "fuzz.yaml")
    except ValidationFailed as exc:
        assert exc.errors
        assert all(e.message and "\n" not in e.message for e in exc.errors)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=3))
def test_mutated_documents_fail_cleanly(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    _check(BASE, mutations)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(EXTENDS_PATHS), values), min_size=1, max_size=3))
def test_mutated_extending_documents_fail_cleanly(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    _check(EXTENDS, mutations)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_fails_cleanly(text: str) -> None:
    try:
        parse_scenario(text, "fuzz.yaml")
    except ValidationFailed as exc:
        assert exc.errors
