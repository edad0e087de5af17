PYTHON ?= python3
VENV := .venv
# Rebuilt only when pyproject.toml (the dependency list) changes.
STAMP := $(VENV)/.installed-from-pyproject
NEUROCC := $(VENV)/bin/neurocc

DEMO_MODEL := tests/fixtures/nir-paper/braille_noDelay_bias_zero.nir
DEMO_OUT := out/demo

.PHONY: demo test bench clean distclean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

# For now: inspect and simulate a real trained model shipped with the tests.
# (compile, verify on the emulator and profile come with later work.)
demo: $(STAMP)
	@mkdir -p $(DEMO_OUT)
	$(NEUROCC) inspect $(DEMO_MODEL) --json $(DEMO_OUT)/braille.json
	$(NEUROCC) simulate $(DEMO_MODEL) --dt 1e-4 --random-input 0.1 --steps 100 --batch 8 \
		--seed 0 -o $(DEMO_OUT)/braille_simulated.npz

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	@set -e; for script in bench/*.py; do \
		echo "== $$script"; $(VENV)/bin/python $$script; \
	done

# Removes what the commands above wrote; keeps .venv (see distclean).
clean:
	rm -rf out bench/results .pytest_cache .hypothesis build dist
	find . -name __pycache__ -type d -not -path "./.venv*" -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
