"""Which build of the hot modules runs: mypyc-compiled, or their Python sources — never stale compiled code.

``setup.py`` compiles the scheduler's and the simulator's hot modules with mypyc and writes ``_native.json``
beside this file: each compiled module and the sha256 of the source it was built from. At import
(``hexagrid/__init__``, before any submodule) :func:`install` compares it with the sources here. If a
source changed since the build (edited, not rebuilt), an extension exists that the manifest does not list
(left by an older build), a listed module has no extension, or ``HEXAGRID_PURE_PYTHON=1`` asks for it,
*every* compiled module is loaded from its ``.py`` by a ``sys.meta_path`` finder — all of them, because
compiled modules call one another directly, so a mix would still run old code — and, unless it was asked
for, one line on stderr says why and how to rebuild.

This module is never compiled: it decides which code runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec, SourceFileLoader
from importlib.util import spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

__all__ = ["MANIFEST", "PURE_PYTHON_ENV", "NativeStatus", "SourceFinder", "guard", "install", "status"]

MANIFEST = "_native.json"
PURE_PYTHON_ENV = "HEXAGRID_PURE_PYTHON"
_FIX = "rebuild with `make install` (or `pip install -e .`)"


@dataclass(frozen=True, slots=True)
class NativeStatus:
    """Whether the compiled modules run, which ones, and if not, why (for ``--version`` and the benches)."""

    compiled: bool
    modules: tuple[str, ...]  # the compiled modules in use; empty on pure Python
    reason: str  # why pure Python; "" when compiled
    changed: tuple[str, ...] = ()  # sources that differ from the build, relative to the package's parent

    def describe(self) -> str:
        """``compiled: mypyc, 10 modules`` or ``pure Python: <reason>``."""
        return f"compiled: mypyc, {len(self.modules)} modules" if self.compiled else f"pure Python: {self.reason}"


class SourceFinder:
    """A ``sys.meta_path`` finder: the named modules as their ``.py`` sources, ahead of the compiled
    extensions beside them. (Not an ``importlib.abc.MetaPathFinder`` subclass: importing that costs
    more than the whole check.)"""

    def __init__(self, sources: Mapping[str, Path]) -> None:
        self.sources = dict(sources)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        return spec_from_file_location(fullname, source, loader=SourceFileLoader(fullname, str(source)))


def _read_manifest(path: Path) -> dict[str, Any]:
    """The build manifest, or ``{}`` when there is none (pure install) or it cannot be read."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _extensions(package_dir: Path, package: str) -> dict[str, Path]:
    """Every extension module this interpreter would import from the package, by module name."""
    found: dict[str, Path] = {}
    for root, dirs, files in os.walk(package_dir):
        if "__init__.py" not in files:  # data folders: nothing importable below
            dirs.clear()
            continue
        prefix = ".".join((package, *Path(root).relative_to(package_dir).parts))
        for name in files:
            suffix = next((s for s in EXTENSION_SUFFIXES if name.endswith(s)), None)
            if suffix is not None:
                found[f"{prefix}.{name[: -len(suffix)]}"] = Path(root, name)
    return found


def _source(package_dir: Path, module: str) -> Path:
    return package_dir.joinpath(*module.split(".")[1:]).with_suffix(".py")


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def guard(package_dir: Path, package: str, environ: Mapping[str, str], stderr: TextIO) -> NativeStatus:
    """Check ``package``'s compiled modules against their sources; when they must not run, route every one
    of them to its ``.py`` and, unless ``HEXAGRID_PURE_PYTHON=1`` asked for that, write one warning line."""
    manifest = _read_manifest(package_dir / MANIFEST)
    listed: dict[str, str] = manifest.get("modules", {})
    library = manifest.get("library")
    extensions = _extensions(package_dir, package)
    modules = sorted(set(listed) | (set(extensions) - {library}))
    rel = package_dir.parent
    asked = environ.get(PURE_PYTHON_ENV) == "1"
    changed: tuple[str, ...] = ()

    if asked:
        reason = f"{PURE_PYTHON_ENV}=1"
    elif not modules:
        return NativeStatus(False, (), f"not compiled at install: {manifest.get('not_compiled', 'no build manifest')}")
    elif unlisted := [str(p.relative_to(rel)) for n, p in extensions.items() if n not in listed and n != library]:
        reason = f"compiled module(s) not in the build manifest: {', '.join(sorted(unlisted))}"
    elif missing := [n for n in listed if n not in extensions]:
        reason = f"compiled module(s) missing: {', '.join(sorted(missing))}"
    else:
        changed = tuple(
            str(_source(package_dir, n).relative_to(rel))
            for n, digest in sorted(listed.items())
            if _sha256(_source(package_dir, n)) != digest
        )
        if not changed:
            return NativeStatus(True, tuple(sorted(listed)), "")
        reason = f"{', '.join(changed)} changed since the compiled build"

    if modules:
        sys.meta_path.insert(0, SourceFinder({n: _source(package_dir, n) for n in modules}))
    if not asked and not _in_child_process():
        print(
            f"hexagrid: warning: {reason}; running the {len(modules)} compiled modules from their Python sources"
            f" (slower); {_FIX}",
            file=stderr,
        )
    return NativeStatus(False, (), reason, changed)


def _in_child_process() -> bool:
    """A spawned worker (the simulator's policy runner, the server's scheduler): its parent already warned.
    By name: ``parent_process()`` is still None while a spawned child imports its parent's modules."""
    mp = sys.modules.get("multiprocessing")
    return mp is not None and mp.current_process().name != "MainProcess"


_STATUS = NativeStatus(False, (), "hexagrid._native.install() has not run")


def install() -> None:
    """Guard hexagrid itself; ``hexagrid/__init__`` calls it before any submodule is imported."""
    global _STATUS
    _STATUS = guard(Path(__file__).parent, __name__.rpartition(".")[0], os.environ, sys.stderr)


def status() -> NativeStatus:
    """Which build of the hot modules this process runs."""
    return _STATUS
