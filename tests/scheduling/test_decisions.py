"""Decisions get a faster ``__init__`` than the frozen dataclass's own: it must build the very same objects."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest

from hexagrid.domain.decisions import Defer, NotNow, Preempt, ReasonCode, Start

CASES: list[tuple[type[Any], tuple[Any, ...], dict[str, Any]]] = [
    (Start, ("j", "s", "p", 2, 4), {}),
    (Start, ("j", "s", "p", 2, 4, "msg", (1, 3)), {}),
    (Start, ("j",), {"site_id": "s", "pool_id": "p", "nodes": 1, "gpus_per_node": 8, "node_indices": (5,)}),
    (Defer, ("j", 7200.0, ReasonCode.CARBON_DEFERRAL, "later"), {}),
    (Preempt, ("j", ReasonCode.HIGHER_PRIORITY, "out"), {"for_job_id": "k"}),
    (Preempt, ("j", ReasonCode.WINDOW_CLOSING, "out"), {}),
    (NotNow, ("j", ReasonCode.CAPACITY, "full"), {}),
    (NotNow, ("j", ReasonCode.RESERVATION, "held"), {"reserved_start_s": 60.0}),
]


def _reference(cls: type[Any]) -> type[Any]:
    """The same fields as a plain frozen slots dataclass, with the generated ``__init__``."""
    spec = [
        (f.name, f.type, f.default) if f.default is not dataclasses.MISSING else (f.name, f.type)
        for f in dataclasses.fields(cls)
    ]
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True, slots=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cls", "args", "kwargs"), CASES)
def test_decisions_are_built_as_the_dataclass_would(
    cls: type[Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    d = cls(*args, **kwargs)
    ref = _reference(cls)(*args, **kwargs)
    assert dataclasses.astuple(d) == dataclasses.astuple(ref)
    assert repr(d) == repr(ref)
    assert d == cls(*args, **kwargs) and hash(d) == hash(cls(*args, **kwargs))
    assert pickle.loads(pickle.dumps(d)) == d
    assert dataclasses.replace(d) == d
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.job_id = "other"


def test_missing_and_unknown_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="missing"):
        Start("j", "s")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected"):
        NotNow("j", ReasonCode.CAPACITY, "m", colour="red")  # type: ignore[call-arg]
