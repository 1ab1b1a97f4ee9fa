"""The compiled build's safety net (``hexagrid._native``): compiled modules run only while they match their
sources, the fallback loads every one of them from source with one warning, and the compiled build gives
the same bytes as pure Python. ``HEXAGRID_REQUIRE_COMPILED=1`` (CI) fails the suite on a pure install."""

from __future__ import annotations

import ast
import hashlib
import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.machinery import EXTENSION_SUFFIXES, SourceFileLoader
from pathlib import Path

import pytest

import hexagrid
from hexagrid import _native

REPO = Path(__file__).resolve().parents[1]
EXT = EXTENSION_SUFFIXES[0]


def _write_manifest(pkg: Path, modules: dict[str, Path]) -> None:
    manifest = {
        "compiler": "mypyc",
        "mypy": "2.4.1",
        "library": "fakepkg._compiled__mypyc",
        "modules": {name: hashlib.sha256(src.read_bytes()).hexdigest() for name, src in modules.items()},
    }
    (pkg / _native.MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture
def fake_pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``fakepkg.sub.hot`` as a current build: its source, an "extension" beside it (not a loadable one:
    importing it fails, which shows the extension is what the import system picks), the shared library,
    a data folder holding a stray extension (not a package: ignored) and a manifest with the source's hash."""
    pkg = tmp_path / "fakepkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "data").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "hot.py").write_text('WHERE = "source"\n')
    for fake_ext in (pkg / "sub" / f"hot{EXT}", pkg / f"_compiled__mypyc{EXT}", pkg / "data" / f"blob{EXT}"):
        fake_ext.write_bytes(b"not a shared object")
    _write_manifest(pkg, {"fakepkg.sub.hot": pkg / "sub" / "hot.py"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    yield pkg
    for name in [m for m in sys.modules if m == "fakepkg" or m.startswith("fakepkg.")]:
        del sys.modules[name]


def _guard(pkg: Path, **environ: str) -> tuple[_native.NativeStatus, list[str]]:
    err = io.StringIO()
    status = _native.guard(pkg, "fakepkg", environ, err)
    return status, err.getvalue().splitlines()


def test_a_current_build_runs_compiled_without_a_word(fake_pkg: Path) -> None:
    finders = list(sys.meta_path)
    status, warnings = _guard(fake_pkg)
    assert status == _native.NativeStatus(True, ("fakepkg.sub.hot",), "")
    assert status.describe() == "compiled: mypyc, 1 modules"
    assert warnings == [] and sys.meta_path == finders
    with pytest.raises(ImportError):  # the (fake) extension shadows hot.py, as a real one does
        importlib.import_module("fakepkg.sub.hot")


def test_an_edited_source_loads_every_compiled_module_from_source_with_one_warning(fake_pkg: Path) -> None:
    (fake_pkg / "sub" / "cool.py").write_text('WHERE = "source"\n')
    (fake_pkg / "sub" / f"cool{EXT}").write_bytes(b"not a shared object")
    _write_manifest(fake_pkg, {f"fakepkg.sub.{m}": fake_pkg / "sub" / f"{m}.py" for m in ("hot", "cool")})
    with (fake_pkg / "sub" / "hot.py").open("a") as f:
        f.write("EDITED = True\n")
    status, warnings = _guard(fake_pkg)
    assert not status.compiled and status.modules == ()
    assert status.changed == ("fakepkg/sub/hot.py",)
    assert status.describe() == "pure Python: fakepkg/sub/hot.py changed since the compiled build"
    assert warnings == [
        "hexagrid: warning: fakepkg/sub/hot.py changed since the compiled build; running the 2 compiled modules"
        " from their Python sources (slower); rebuild with `make install` (or `pip install -e .`)"
    ]
    for name in ("fakepkg.sub.hot", "fakepkg.sub.cool"):  # the unchanged one too: no mix of old and new
        module = importlib.import_module(name)
        assert module.WHERE == "source"
        assert isinstance(module.__spec__.loader, SourceFileLoader) and module.__file__.endswith(".py")


def test_a_worker_process_runs_the_sources_without_repeating_the_warning(
    fake_pkg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing

    monkeypatch.setattr(multiprocessing.current_process(), "name", "SpawnProcess-1")  # as while a worker imports
    (fake_pkg / "sub" / "hot.py").write_text('WHERE = "edited"\n')
    status, warnings = _guard(fake_pkg)
    assert status.changed == ("fakepkg/sub/hot.py",) and warnings == []
    assert importlib.import_module("fakepkg.sub.hot").WHERE == "edited"


def test_pure_python_on_request_loads_sources_silently(fake_pkg: Path) -> None:
    status, warnings = _guard(fake_pkg, HEXAGRID_PURE_PYTHON="1")
    assert status == _native.NativeStatus(False, (), "HEXAGRID_PURE_PYTHON=1")
    assert warnings == []
    assert importlib.import_module("fakepkg.sub.hot").WHERE == "source"


def test_an_extension_the_manifest_does_not_list_sends_all_to_source(fake_pkg: Path) -> None:
    (fake_pkg / "old.py").write_text('WHERE = "source"\n')
    (fake_pkg / f"old{EXT}").write_bytes(b"left by an older build")
    status, warnings = _guard(fake_pkg)
    assert not status.compiled
    assert status.reason == f"compiled module(s) not in the build manifest: fakepkg/old{EXT}"
    assert len(warnings) == 1 and f"fakepkg/old{EXT}" in warnings[0] and "make install" in warnings[0]
    assert importlib.import_module("fakepkg.old").WHERE == "source"
    assert importlib.import_module("fakepkg.sub.hot").WHERE == "source"


def test_a_listed_module_without_its_extension_sends_all_to_source(fake_pkg: Path) -> None:
    (fake_pkg / "sub" / f"hot{EXT}").unlink()
    status, warnings = _guard(fake_pkg)
    assert status.reason == "compiled module(s) missing: fakepkg.sub.hot"
    assert len(warnings) == 1
    assert isinstance(importlib.import_module("fakepkg.sub.hot").__spec__.loader, SourceFileLoader)


def test_a_pure_install_says_why_from_its_manifest(fake_pkg: Path) -> None:
    for leftover in (fake_pkg / "sub" / f"hot{EXT}", fake_pkg / f"_compiled__mypyc{EXT}"):
        leftover.unlink()
    why = "no C compiler ('cc' not found on PATH)"
    (fake_pkg / _native.MANIFEST).write_text(json.dumps({"modules": {}, "not_compiled": why}))
    finders = list(sys.meta_path)
    status, warnings = _guard(fake_pkg)
    assert status == _native.NativeStatus(False, (), f"not compiled at install: {why}")
    assert warnings == [] and sys.meta_path == finders
    (fake_pkg / _native.MANIFEST).unlink()  # a source tree never installed
    assert _guard(fake_pkg)[0].reason == "not compiled at install: no build manifest"


def test_version_says_which_build_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hexagrid.cli.main", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == f"hexagrid {hexagrid.__version__} ({_native.status().describe()})"


def _compiled_sources() -> set[str]:
    """setup.py's list (the one list), as module names."""
    tree = ast.parse((REPO / "setup.py").read_text())
    sources = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED_SOURCES"
    )
    return {s.removeprefix("src/").removesuffix(".py").replace("/", ".") for s in sources}


def test_the_suite_runs_on_the_compiled_modules_when_required() -> None:
    if os.environ.get("HEXAGRID_REQUIRE_COMPILED") != "1":
        pytest.skip("HEXAGRID_REQUIRE_COMPILED=1 (as CI sets it) requires the compiled build")
    status = _native.status()
    assert status.compiled, status.describe()
    assert set(status.modules) == _compiled_sources() and len(status.modules) == 10
    for name in status.modules:
        module = importlib.import_module(name)
        assert module.__file__ is not None and module.__file__.endswith(tuple(EXTENSION_SUFFIXES)), name


@pytest.mark.slow
def test_compiled_and_pure_python_simulate_the_same_bytes(tmp_path: Path) -> None:
    if not _native.status().compiled:
        pytest.skip(f"the compiled modules are not in use ({_native.status().describe()})")
    args = ["simulate", "--max-jobs", "250", "--policy", "fifo", "--policy", "hexagrid", "--seed", "3", "--no-report"]
    outputs = {}
    for build, pure in (("compiled", "0"), ("pure", "1")):
        out = tmp_path / build
        env = {**os.environ, "HEXAGRID_PURE_PYTHON": pure}
        proc = subprocess.run(
            [sys.executable, "-m", "hexagrid.cli.main", *args, "--out", str(out)],  # a worker per policy
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "warning" not in proc.stderr
        outputs[build] = out
    names = sorted(p.name for p in outputs["compiled"].iterdir())
    assert {"summary.json", "jobs-fifo.parquet", "jobs-hexagrid.parquet"} <= set(names)
    assert names == sorted(p.name for p in outputs["pure"].iterdir())
    for name in names:
        assert (outputs["compiled"] / name).read_bytes() == (outputs["pure"] / name).read_bytes(), name
