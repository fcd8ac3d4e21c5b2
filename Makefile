# The two commands a newcomer runs (see README.md): `make run` and `make test`.
# Each creates .venv on first use from constraints.txt (the versions CI tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test unit lint docs browser examples bench bench-quick bench-smoke bench-gate bench-versions clean

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
test: lint unit docs
	$(BIN)/python -m pytest conformance

## unit: the suite's own unit tests alone (no conformance matrix, no documentation test),
## one test file per pytest-xdist worker, one worker per CPU (a file's module fixtures are
## made once).
unit: $(STAMP) browser
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not docs" tests

## docs: the documentation site (mkdocs.yml, docs/) built with every internal link and anchor
## checked (--strict turns mkdocs' link warnings into errors) into build/site, then
## tests/test_docs.py: README.md's and FINDINGS.md's links and anchors, and every command and
## Python reproducer the pages show, run (long ones narrowed, as that file's table says).
docs: $(STAMP)
	$(BIN)/mkdocs build --strict
	$(BIN)/python -m pytest -m docs tests/test_docs.py

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
## The small profile: sizes 1e3 and 1e6 in float32 on the CPU, the roofline at 1e7 float32,
## compilation at 1e6, peak memory at 1e6, and numerical agreement (one full conformance run).
QUICK := -b "Forward.track_seconds\(.*, (1000|1000000), 'float32', 'cpu'\)" \
	-b "Roofline.track_percent\(.*, 'float32', 'forward'\)" \
	-b "Compile.track_first_call_seconds\(.*, 1000000, .*'forward'\)" \
	-b "PeakMemory.peakmem_forward\(.*, 1000000\)" -b "Machine" -b "agreement"

# asv's pages load their scripts from CDNs; the site is made self-contained after publishing.
PUBLISH := $(BIN)/asv publish && $(BIN)/python -m conformance.speed.site reports/asv/html

$(ASV_MACHINE): | $(STAMP)
	$(BIN)/asv machine --yes

## bench: every benchmark (docs/benchmarks.md gives its duration); results in reports/asv/results,
## the site in reports/asv/html.
bench: $(STAMP) $(ASV_MACHINE)
	$(ASV) run --python=same --set-commit-hash $(COMMIT) --show-stderr
	$(PUBLISH)

## bench-quick: the small profile (asv prints each benchmark's time), then the site.
bench-quick: $(STAMP) $(ASV_MACHINE)
	$(ASV) run --python=same --set-commit-hash $(COMMIT) --show-stderr $(QUICK)
	$(PUBLISH)

## bench-smoke: every benchmark function at its smallest parameters, float32 on the CPU,
## over one adapter of each kind (each adapter class, the compiled modes, a pipeline, a
## Keras backend helper: the other adapters of a class run the same benchmark code with
## other arguments, and the conformance matrix runs every adapter's prepare/execute at
## every dtype); the roofline at 1e7 float32 forward; agreement on the quick conformance
## profile of those adapters; nothing saved: what CI runs. `asv run --quick` does not
## shorten the timing core's own samples, so the smoke narrows the grid instead.
SMOKE_ADAPTERS := numpy.stable,torch.nn.functional.binary_cross_entropy_with_logits,\
torch.nn.BCELoss,torch.compile(F.binary_cross_entropy_with_logits),\
torch.sigmoid+F.binary_cross_entropy,tf.nn.sigmoid_cross_entropy_with_logits,\
tf.function(jit_compile=True)(tf.nn.sigmoid_cross_entropy_with_logits),\
keras.losses.BinaryCrossentropy,keras.Model(sigmoid).compile(BinaryCrossentropy).evaluate,\
optax.sigmoid_binary_cross_entropy,jax.jit(optax.sigmoid_binary_cross_entropy),\
keras.ops.binary_crossentropy@jax
SMOKE := -b "Forward(Backward)?.track_seconds\(.*, 1000, 'float32', 'cpu'\)" \
	-b "Compile.track_first_call_seconds\(.*, 1000, 'float32', " \
	-b "PeakMemory.peakmem_forward.*\(.*, 1000000\)" \
	-b "Roofline.track_percent\(.*, 'float32', 'forward'\)" -b "Machine" -b "agreement"
bench-smoke: $(STAMP) $(ASV_MACHINE)
	BCE_BENCH_PROFILE=quick BCE_BENCH_ONLY='$(SMOKE_ADAPTERS)' \
		$(ASV) run --python=same --quick --dry-run --show-stderr $(SMOKE)

## bench-versions: the JAX adapters over two jax releases (asv.versions.conf.json builds a
## virtualenv per release): speed at 1e3 and 1e6 float32 and agreement on the quick profile,
## in reports/asv/versions/html.
VERSIONS := -b "Forward.track_seconds\(.*, (1000|1000000), 'float32', 'cpu'\)" -b "agreement"
bench-versions: $(STAMP) $(ASV_MACHINE)
	BCE_BENCH_ONLY='jax.*,optax.*' BCE_BENCH_PROFILE=quick BCE_BENCH_CASES=$(CURDIR)/cases \
		$(BIN)/asv run \
		--config asv.versions.conf.json --show-stderr $(VERSIONS) HEAD^!
	$(BIN)/asv publish --config asv.versions.conf.json
	$(BIN)/python -m conformance.speed.site reports/asv/versions/html

## bench-gate: the regression gate, this commit against BASE (default: the previous one).
BASE ?= HEAD~1
bench-gate: $(STAMP) $(ASV_MACHINE)
	$(BIN)/bce-conformance gate --base $(BASE)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
