"""A pause of Python's cyclic garbage collector around bulk work that makes no reference cycles.

Building or replaying hundreds of thousands of plain objects triggers collection after collection,
each rescanning every live object for cycles there are none of; reference counting still frees them.
Used by the scheduler's pass, the simulator's replay and the bulk JobSpec builder.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic GC inside the block; on exit, enable it again only if it was enabled before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
