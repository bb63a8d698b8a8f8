# make demo: stylize the bundled sample (sets itself up: .venv with pinned dependencies)
# make unit: the quick unit tests (pytest tests/unit -m "not slow": none that starts a process or fuzzes)
# make test: the whole test suite, unit (slow ones too) and integration (a real ComfyUI server, a real Chromium), on
# two pytest workers (pytest-xdist: most tests wait on a server or a subprocess), ending with the 30 slowest tests
# make bench: the benchmarks behind README's table (slow: tens of minutes on a 2-core CPU)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test unit bench venv clean

venv: $(STAMP)

# The project itself is installed editable (no dependencies: they are the pinned ones above), so that the
# `patch-toon` command and `python -m patch_training` work from any folder with .venv's Python.
$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) tools/demo.py

unit: $(STAMP)
	$(PY) -m pytest tests/unit -m "not slow"

test: $(STAMP)
	$(PY) tests/comfy_host/setup_host.py
	bash tests/browser/setup_browser.sh $(PY)
	$(PY) -m pytest tests -n 2 --dist loadgroup --durations=30

bench: $(STAMP)
	$(PY) -m benchmarks.bench

clean:
	rm -rf $(VENV) .cache .pytest_cache
