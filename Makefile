# The two commands of the README. Each sets up .venv on first use (Python >= 3.11).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint-sample bench clean

$(STAMP): pyproject.toml scripts/setup.sh
	PY=$(PY) bash scripts/setup.sh
	touch $(STAMP)

## demo: the main job end to end on sample_data/ (today: lint)
demo: $(STAMP)
	$(BIN)/curate lint sample_data/raw.jsonl --statistics || test $$? -eq 1
	@echo "demo: lint finished; the findings above are the sample corpus's planted defects."

## test: the whole test suite (what CI runs)
test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/lint_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
