# The two commands a newcomer runs (see README.md): `make run` and `make test`.
# Each creates .venv on first use from constraints.txt (the versions CI tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test unit integration lint docs browser examples bench bench-quick bench-smoke bench-gate bench-versions clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,test,bench,docs]"
	touch $(STAMP)

## run: the whole CPU conformance matrix over every installed framework; writes
## reports/conformance.json, reports/conformance.html and reports/conformance.md and
## prints the summary table.
run: $(STAMP)
	$(BIN)/bce-conformance run --profile full --output reports/conformance.json \
		--html reports/conformance.html --markdown reports/conformance.md

## test: lint and types, the suite's unit tests, the documentation (make docs), and the
## conformance matrix (quick profile: the full one is `make run`, or `pytest --profile full
## conformance`) as pytest tests: one engine run over every check, in one worker per CPU and
## one more, then one test per check.
test: lint unit integration docs
	$(BIN)/python -m pytest conformance

## unit: the suite's fast unit tests, what to run while changing the code: no conformance
## matrix, no documentation test, nothing marked `integration`; one test file per
## pytest-xdist worker (a file's module fixtures are made once), one worker per CPU.
unit: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not integration and not docs" tests

## integration: the suite's tests marked `integration` (pyproject.toml says what earns the
## mark): CLI runs with worker processes, crashes and hangs, reproducers in fresh
## interpreters, plug-in packages installed, asv runs and the regression gate, the HTML
## report and the asv site in Chromium. One test file per pytest-xdist worker (a file's
## module fixtures are made once), one worker per CPU.
integration: $(STAMP) browser
	$(BIN)/python -m pytest -n auto --dist loadfile -m integration tests

## docs: the documentation site (mkdocs.yml, docs/) built with every internal link and anchor
## checked (--strict turns mkdocs' link warnings into errors) into build/site, then
## tests/test_docs.py: README.md's and FINDINGS.md's links and anchors, and every command and
## Python reproducer the pages show, run (long ones narrowed, as that file's table says).
docs: $(STAMP)
	$(BIN)/mkdocs build --strict
	$(BIN)/python -m pytest -n auto -m docs tests/test_docs.py

## browser: headless Chromium for the tests that load the HTML report and the asv site in
## a real browser: Debian's chromium from PATH, or installed with apt-get (needs root) when
## absent. Anywhere else, install chromium (or chromium-browser) yourself first.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
		command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] || { \
			echo "make browser: install chromium (apt-get needs root here)"; exit 1; }; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

## lint: ruff, formatting, mypy on the engine and the adapters, and the CI workflow against
## GitHub's workflow schema (vendored in check-jsonschema: nothing is fetched).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy conformance adapters
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

## examples: regenerate the small committed example report (quick profile, a few adapters).
examples: $(STAMP)
	$(BIN)/bce-conformance run --profile quick --devices cpu \
		--adapters 'numpy.*,torch.nn.functional.*,keras.losses.*,optax.*' \
		--cases cases/edge-probabilities.yaml --cases cases/extreme-logits.yaml \
		--output reports/examples/quick.json --html reports/examples/quick.html \
		--markdown reports/examples/quick.md

# asv runs in the project's own .venv (an `existing` environment: nothing is built), on
# the checked-out commit; the machine description is written on first use.
ASV := ASV_PYTHONPATH=$(CURDIR) $(BIN)/asv
ASV_MACHINE := $(HOME)/.asv-machine.json
COMMIT = $(shell git rev-parse HEAD)
# $(call profile,asv-args,NAME) and $(call profile,env,NAME): benchmark profile NAME's asv
# `-b` arguments and its BCE_BENCH_* assignments, as shell words. Each profile is defined
# once, in conformance/profiles.py (`$(BIN)/python -m conformance.profiles list` shows them);
# make stops when that command fails rather than run asv over every benchmark.
profile = $(shell $(BIN)/python -m conformance.profiles $(1) $(2))$(if \
	$(filter-out 0,$(.SHELLSTATUS)),$(error python -m conformance.profiles $(1) $(2) failed))

# asv's pages load their scripts from CDNs; the site is made self-contained after publishing.
PUBLISH := $(BIN)/asv publish && $(BIN)/python -m conformance.speed.site reports/asv/html

$(ASV_MACHINE): | $(STAMP)
	$(BIN)/asv machine --yes

## bench: every benchmark (the `all` profile; docs/benchmarks.md gives its duration);
## results in reports/asv/results, the site in reports/asv/html.
bench: $(STAMP) $(ASV_MACHINE)
	$(call profile,env,all) $(ASV) run --python=same --set-commit-hash $(COMMIT) --show-stderr \
		$(call profile,asv-args,all)
	$(PUBLISH)

## bench-quick: the `quick` benchmark profile (asv prints each benchmark's time), then the site.
bench-quick: $(STAMP) $(ASV_MACHINE)
	$(call profile,env,quick) $(ASV) run --python=same --set-commit-hash $(COMMIT) \
		--show-stderr $(call profile,asv-args,quick)
	$(PUBLISH)

## bench-smoke: the `smoke` benchmark profile (every benchmark function at its smallest
## parameters over one adapter of each kind), nothing saved: what CI runs. `asv run --quick`
## does not shorten the timing core's own samples, so the profile narrows the grid instead.
bench-smoke: $(STAMP) $(ASV_MACHINE)
	$(call profile,env,smoke) $(ASV) run --python=same --quick --dry-run --show-stderr \
		$(call profile,asv-args,smoke)

## bench-versions: the `versions` benchmark profile (the JAX adapters) over two jax releases
## (asv.versions.conf.json builds a virtualenv per release), in reports/asv/versions/html.
bench-versions: $(STAMP) $(ASV_MACHINE)
	$(call profile,env,versions) $(BIN)/asv run --config asv.versions.conf.json \
		--show-stderr $(call profile,asv-args,versions) HEAD^!
	$(BIN)/asv publish --config asv.versions.conf.json
	$(BIN)/python -m conformance.speed.site reports/asv/versions/html

## bench-gate: the regression gate, this commit against BASE (default: the previous one), on
## the `gate` benchmark profile.
BASE ?= HEAD~1
bench-gate: $(STAMP) $(ASV_MACHINE)
	$(BIN)/bce-conformance gate --base $(BASE)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
