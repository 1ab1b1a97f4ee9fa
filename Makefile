# Two entry points for a fresh machine: `make run` (the main job on built-in defaults) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The install compiles the hot modules with mypyc (setup.py; HEXAGRID_COMPILE=auto|1|0). setup.py's
# COMPILED_SOURCES lists them, so editing one reinstalls before the next run/test/bench (also after an install
# that fell back to pure Python because mypyc refused an edit: the fixed edit compiles again).
MANIFEST     := src/hexagrid/_native.json
COMPILED_SRC := $(shell sed -n '/^COMPILED_SOURCES = \[/,/^\]/s/^ *"\(src\/[^"]*\.py\)",$$/\1/p' setup.py)

.PHONY: run test install lint typecheck bench clean

$(STAMP): pyproject.toml setup.py $(COMPILED_SRC)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@$(BIN)/hexagrid --version
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/hexagrid simulate --out out/default

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench setup.py
	$(BIN)/ruff format --check src tests bench setup.py

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) out build .pytest_cache .mypy_cache .ruff_cache $(MANIFEST)
	find src -name '*.so' -delete
