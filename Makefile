# Two commands: `make run` and `make test`. Each sets up what it needs on a fresh clone.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run demo test fuzz lint typecheck lock bench clean chromium

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(VENV)/bin/uv pip sync -q --python $(PY) requirements.lock
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m cli migrate
	$(PY) -m cli up

# `make run` on the fast charter (second-long SLAs, 24x7), with its own data and ports so that it never
# touches what `make run` keeps; files two sample disputes once it is up (ops/demo.py).
DEMO_ENV := PARLEY_CHARTER=$(CURDIR)/charters/fast.toml PARLEY_DATA_DIR=$(CURDIR)/var/demo \
            PARLEY_HTTP_PORT=8100 PARLEY_TEMPORAL_DEV_PORT=7300 \
            PARLEY_DATABASE_URL= PARLEY_TEMPORAL_ADDRESS= PARLEY_PUBLIC_URL=

demo: install
	$(DEMO_ENV) $(PY) -m cli migrate
	$(DEMO_ENV) $(PY) -m ops.demo

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy

# The browser tests drive Debian's Chromium (Playwright cannot download a browser here).
chromium:
	@test -x /usr/bin/chromium || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; }

test: install chromium lint typecheck
	$(VENV)/bin/pytest -q -n 3 --dist loadfile --no-loadscope-reorder -rs --durations=20

# A longer Schemathesis run than the suite's bounded one: every phase, every role, 200 examples.
fuzz: install
	PARLEY_FUZZ_FULL=1 PARLEY_FUZZ_EXAMPLES=200 $(VENV)/bin/pytest tests/api/test_fuzz.py -q -s -p no:cacheprovider

bench: install
	$(PY) bench/throughput.py

# Re-pin every dependency after editing pyproject.toml.
lock: install
	$(VENV)/bin/uv pip compile -q pyproject.toml --extra dev -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
