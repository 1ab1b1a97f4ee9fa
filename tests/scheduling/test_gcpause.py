"""``gc_paused``: the collector is off inside, given back as found, and what the block made goes to the
oldest generation (no young collection rescans it) while its cycles are still collected."""

from __future__ import annotations

import gc
import weakref

from hexagrid.gcpause import gc_paused


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_objects_made_in_the_block_skip_the_young_generations_and_cycles_still_die() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        kept = [_Node() for _ in range(3)]
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a cycle, garbage once the names go
        dead = weakref.ref(a)
    assert gc.isenabled()
    assert not _in_generation(kept[0], 0) and not _in_generation(kept[0], 1)
    assert _in_generation(kept[0], 2)
    del a, b
    assert dead() is not None, "a cycle is not freed by reference counting"
    gc.collect()
    assert dead() is None, "the next full collection frees it"


def test_left_alone_when_disabled_before_or_when_objects_are_frozen_on_purpose() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    pinned = _Node()
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        assert before > 0
        with gc_paused():
            _Node()
        assert gc.get_freeze_count() == before, "what the program froze stays frozen"
        assert not _in_generation(pinned, 2)
    finally:
        gc.unfreeze()
