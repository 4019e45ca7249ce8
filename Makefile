# rolecall — every target creates/uses the local virtualenv (.venv).
# torch is installed first and pinned: an unpinned torch would pull a multi-GB CUDA build.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint bench clean

$(STAMP):
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/rolecall demo

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check sdk tests examples benchmarks
	$(VENV)/bin/mypy

bench: install
	$(PY) benchmarks/negconstraint.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
