# Two commands on a fresh Linux machine with Python >= 3.11 and make:
#   make demo   - create .venv, install, reconcile the bundled sample's inbox (offline agent,
#                 on a copy in .demo/), then again: nothing new
#   make test   - create .venv with the test extras, run ruff, mypy and the whole suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# pytest-xdist workers: one more than the CPUs we may use, as the suite waits on its
# subprocesses (sandbox servers, time limits, fake API retries) a good part of the time;
# at most 8 (then the attack suite's file, on one worker, is the longest part anyway).
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(min(len(os.sched_getaffinity(0)) + 1, 8))')

.PHONY: demo test lint bench clean

$(VENV)/.created:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "beanagent needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.created pyproject.toml
	$(PIP) install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

# The demo runs on a copy (.demo/, rebuilt each time): it writes the reconciled entries
# and remembers the statements, so its second bare run has nothing new.
DEMO_BIN := ../$(VENV)/bin/beanagent

demo: $(VENV)/.installed
	@rm -rf .demo && mkdir .demo && cp -R ledgers/sample.beancount ledgers/beanagent.toml \
		ledgers/inbox .demo/
	cd .demo && $(DEMO_BIN) reconcile sample.beancount --list
	cd .demo && $(DEMO_BIN) reconcile sample.beancount --yes
	cd .demo && $(DEMO_BIN) reconcile sample.beancount --yes

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --no-cache beanagent tests ledgers benchmarks
	$(VENV)/bin/mypy beanagent
	$(PY) -m pytest -q -n $(TEST_WORKERS)

bench: $(VENV)/.installed-test
	$(PY) -m benchmarks.bench_help
	$(PY) -m benchmarks.bench_reconcile
	$(PY) -m benchmarks.bench_review
	$(PY) -m benchmarks.stress_commit
	$(PY) -m benchmarks.bench_sandbox
	$(PY) -m benchmarks.bench_engine
	$(PY) -m benchmarks.bench_accuracy
	$(PY) -m benchmarks.bench_eval
	$(PY) -m benchmarks.bench_categorise

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache benchmarks/.data .demo
