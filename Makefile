# irlas_darts — the two commands that matter: `make search` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
ARGS   ?=
# pytest-xdist processes for `make test`: auto is one per core; WORKERS=0 runs the tests in pytest's own process
WORKERS ?= auto

.DEFAULT_GOAL := help
.PHONY: help install search test test-fast compare report bench bench-ab bench-vs-darts bench-distributed prior-benchmark gpu-check clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,launchers]"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create .venv and install the package with its test and launcher extras

search: $(STAMP)  ## search a cell on the bundled digits dataset (DARTS space, IRL prior); ARGS="key=value ..."
	$(BIN)/irlas-search $(ARGS)

test: $(STAMP)  ## run the whole test suite (slow end-to-end tests included), one pytest worker per core
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope $(ARGS)

test-fast: $(STAMP)  ## the tests without the slow end-to-end ones
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope -m "not slow" $(ARGS)

compare: $(STAMP)  ## the stored comparison sweep: regularizer=none,imitation,irl x seed=0,1,2 (+ eval), then the report
	$(BIN)/irlas-search experiment=compare $(ARGS)

report: $(STAMP)  ## write report.md and plots for a sweep: make report SWEEP=multirun/...
	$(BIN)/irlas-report $(SWEEP)

bench: $(STAMP)  ## search step time and memory: first vs second order (experiments/bench_search.py)
	$(BIN)/python experiments/bench_search.py $(ARGS)

bench-ab: $(STAMP)  ## this tree's search step against another revision's, one process, steps alternating: BASE=<git rev>
	$(BIN)/python experiments/bench_ab.py --base $(or $(BASE),HEAD) $(ARGS)

bench-vs-darts: $(STAMP)  ## step time/memory side by side with the original DARTS code: DARTS=<its cnn/ folder> (ours alone without)
	$(BIN)/python experiments/bench_vs_darts.py $(if $(DARTS),--darts-dir $(DARTS)) $(ARGS)

bench-distributed: $(STAMP)  ## samples/s of one search on 1 vs 2 processes, torchrun (experiments/bench_distributed.py)
	$(BIN)/python experiments/bench_distributed.py $(ARGS)

prior-benchmark: $(STAMP)  ## none vs imitation vs irl, both spaces, seeds 0-4 (experiments/prior_benchmark.py; hours); ARGS="--suites ... --sweep"
	$(BIN)/python experiments/prior_benchmark.py $(ARGS)

gpu-check: $(STAMP)  ## on one CUDA device, <= 8 min: CUDA tests, every algorithm x space x order, step time/memory, torchrun+NCCL
	$(BIN)/python experiments/gpu_check.py $(ARGS)

clean:  ## remove run outputs (keeps .venv)
	rm -rf outputs multirun .pytest_cache
