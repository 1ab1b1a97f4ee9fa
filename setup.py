"""Build step: compile the scheduler's and the simulator's hot modules with mypyc (metadata: pyproject.toml).

``HEXAGRID_COMPILE`` decides: ``auto`` (default) compiles when mypyc, a C compiler and Python's headers
are here and installs pure Python with one warning line when they are not or the compile fails; ``1``
compiles or fails the install (CI); ``0`` installs pure Python. The same sources run either way. Beside
the package the build writes ``_native.json``: each compiled module with the sha256 of the source it was
built from, which ``hexagrid._native`` checks at import so that stale compiled code never runs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError

#: The one list of compiled modules: the scheduling pass and the simulator's event loop.
COMPILED_SOURCES = [
    "src/hexagrid/scheduling/scheduler.py",
    "src/hexagrid/scheduling/state.py",
    "src/hexagrid/scheduling/backfill.py",
    "src/hexagrid/scheduling/queue.py",
    "src/hexagrid/scheduling/rules.py",
    "src/hexagrid/simulation/driver.py",
    "src/hexagrid/simulation/checker.py",
    "src/hexagrid/simulation/engine.py",
    "src/hexagrid/simulation/windows.py",
    "src/hexagrid/simulation/runtime.py",
]
#: mypyc's shared library becomes ``hexagrid/_compiled__mypyc*.so``, inside the package, not at the top level.
GROUP = "hexagrid._compiled"
MANIFEST = "_native.json"
MODES = ("auto", "1", "0")
#: Commands that finalise build_ext only to list its sources (pip's metadata hooks, sdist): no type check.
METADATA_COMMANDS = {"egg_info", "dist_info", "sdist"}


def _mode() -> str:
    mode = os.environ.get("HEXAGRID_COMPILE", "auto").strip().lower()
    if mode not in MODES:
        sys.exit(f"setup.py: HEXAGRID_COMPILE must be auto, 1 or 0, got {mode!r}")
    return mode


def _fall_back(reason: str) -> str:
    """``auto``: one warning line, and the build goes on in pure Python; ``1``: the install fails."""
    if _mode() == "1":
        sys.exit(f"setup.py: HEXAGRID_COMPILE=1 but {reason}")
    print(
        f"hexagrid: warning: {reason}; installing pure Python (HEXAGRID_COMPILE=1 makes this an error)", file=sys.stderr
    )
    return reason


def _missing_toolchain() -> str | None:
    """What compiling needs and this machine lacks (mypyc, a C compiler, Python.h), or None."""
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypyc is not installed (it ships with mypy)"
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc!r} not found on PATH)"
    header = Path(sysconfig.get_paths()["include"], "Python.h")
    if not header.is_file():
        return f"no Python headers ({header} not found)"
    return None


def _module_name(source: str) -> str:
    return source.removeprefix("src/").removesuffix(".py").replace("/", ".")


@functools.cache
def _mypyc_extensions() -> tuple[list[Extension], str]:
    """mypyc's extensions and "", or none and why this build installs pure Python (the manifest keeps it for
    ``hexagrid._native.status()``). Once per process: an editable install finalises build_ext twice."""
    if _mode() == "0":
        return [], "HEXAGRID_COMPILE=0"
    missing = _missing_toolchain()
    if missing is not None:
        return [], _fall_back(missing)
    from mypyc.build import mypycify

    try:
        extensions: list[Extension] = mypycify(COMPILED_SOURCES, group_name=GROUP, multi_file=True)
    except SystemExit:  # mypyc prints type errors, then exits
        return [], _fall_back("mypyc could not compile (its errors are above)")
    # mypyc writes the shared library's headers under build/hexagrid/ (the group's package) but the
    # per-module C files of multi_file mode under build/, which include them by bare name.
    for ext in extensions:
        ext.include_dirs.append(os.path.join("build", *GROUP.split(".")[:-1]))
    return extensions, ""


class BuildNative(build_ext):
    """Swaps the placeholder extension for mypyc's (not for metadata-only commands, which finalise build_ext
    too but must not pay for mypyc's type check), compiles the C files in parallel, and writes the manifest
    beside what it built."""

    def finalize_options(self) -> None:
        metadata_only = set(self.distribution.commands) <= METADATA_COMMANDS
        extensions, self.not_compiled = ([], "") if metadata_only else _mypyc_extensions()
        if extensions:
            self.distribution.ext_modules = extensions
        super().finalize_options()
        # Without them the placeholder stays on the distribution, so that build_ext still runs: an editable
        # reinstall must remove the extensions of the last build.
        self.extensions = extensions

    def build_extension(self, ext: Any) -> None:
        """Compile an extension's C files on all cores (setuptools compiles one file at a time)."""
        compile_one = self.compiler.compile

        def compile_all(sources: list[str], *args: Any, **kwargs: Any) -> list[str]:
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                parts = pool.map(lambda s: compile_one([s], *args, **kwargs), sources)
                return [obj for objs in parts for obj in objs]

        self.compiler.compile = compile_all
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = compile_one

    def run(self) -> None:
        package_dir = Path(self._package_dir())
        self._remove_previous_build(package_dir)
        if self.extensions:
            try:
                super().run()
            except (CCompilerError, CompileError, ExecError, LinkError, OSError) as exc:
                self._remove_outputs()
                self.not_compiled = _fall_back(
                    f"compiling failed ({type(exc).__name__}; the compiler's errors are above)"
                )
        self._write_manifest(package_dir)

    def _package_dir(self) -> str:
        if self.inplace:
            return self.get_finalized_command("build_py").get_package_dir("hexagrid")
        return os.path.join(self.build_lib, "hexagrid")

    def _remove_previous_build(self, package_dir: Path) -> None:
        """Remove the extensions an earlier build left where this one puts its own (the source tree for an
        editable install, build/lib for a wheel) and does not build now: a pure build must neither leave
        compiled modules that shadow the sources nor ship them."""
        stale = {f"{GROUP}__mypyc", *map(_module_name, COMPILED_SOURCES)}
        manifest = package_dir / MANIFEST
        if manifest.is_file():
            stale.update(json.loads(manifest.read_text(encoding="utf-8"))["modules"])
            manifest.unlink()
        for name in stale - {ext.name for ext in self.extensions}:
            Path(self.get_ext_fullpath(name)).unlink(missing_ok=True)

    def _remove_outputs(self) -> None:
        for ext in self.extensions:
            Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)

    def _write_manifest(self, package_dir: Path) -> None:
        manifest: dict[str, Any] = {"library": f"{GROUP}__mypyc", "modules": {}}
        if self.not_compiled:
            manifest["not_compiled"] = self.not_compiled
        else:
            from mypy.version import __version__ as mypy_version

            manifest.update(
                compiler="mypyc",
                mypy=mypy_version,
                modules={_module_name(s): hashlib.sha256(Path(s).read_bytes()).hexdigest() for s in COMPILED_SOURCES},
            )
        package_dir.mkdir(parents=True, exist_ok=True)
        (package_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


# The placeholder makes setuptools run build_ext (and tag the wheel for this platform); BuildNative
# replaces it with mypyc's extensions, or with none.
setup(ext_modules=[Extension(f"{GROUP}__mypyc", sources=[])], cmdclass={"build_ext": BuildNative})
