"""The scheduler module run from its Python source, whichever build is installed.

Tests that subclass ``Scheduler`` to swap a fast path for its whole-vector reference, or hand a lane order
duck-typed stand-ins, need interpreted classes: a class compiled by mypyc admits neither. They check the
algorithm, so they run it from source; tests/test_native.py holds the compiled build to the source's outputs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import hexagrid.scheduling


def _load() -> ModuleType:
    name = "hexagrid.scheduling._scheduler_from_source"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(hexagrid.scheduling.__file__).with_name("scheduler.py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


scheduler_source = _load()
