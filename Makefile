# The two commands a newcomer runs (see README): `make run` and `make test`.
# Each creates .venv on first use from constraints.txt (the versions CI tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test examples lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,test,bench]"
	touch $(STAMP)

## run: the whole CPU conformance matrix over every installed framework; writes
## reports/conformance.json, reports/conformance.html and reports/conformance.md and
## prints the summary table.
run: $(STAMP)
	$(BIN)/bce-conformance run --profile full --output reports/conformance.json \
		--html reports/conformance.html --markdown reports/conformance.md

## test: lint and types, the suite's unit tests, and the conformance matrix as pytest tests.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy conformance adapters
	$(BIN)/python -m pytest --profile full

## examples: regenerate the small committed example report (quick profile, a few adapters).
examples: $(STAMP)
	$(BIN)/bce-conformance run --profile quick --devices cpu \
		--adapters 'numpy.*,torch.nn.functional.*,keras.losses.*,optax.*' \
		--cases cases/edge-probabilities.yaml --cases cases/extreme-logits.yaml \
		--output reports/examples/quick.json --html reports/examples/quick.html \
		--markdown reports/examples/quick.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
