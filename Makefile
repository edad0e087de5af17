PYTHON ?= python3
VENV := .venv
# Rebuilt only when pyproject.toml (the dependency list) changes.
STAMP := $(VENV)/.installed-from-pyproject
NEUROCC := $(VENV)/bin/neurocc

DEMO_MODEL := tests/fixtures/nir-paper/braille_noDelay_bias_zero.nir
DEMO_OUT := out/demo

LAVA_VENV := .venv-lava
LAVA_DIR := backends/loihi2/lava

.PHONY: demo test bench lava clean distclean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

# Until a bundled trained model exists: the NIR paper's Braille network. Inspect it,
# compile it for Loihi 2, verify the artifact on the emulator against the float model
# (and bit for bit against Lava when .venv-lava exists; `verify` decides and says so).
demo: $(STAMP) lava
	@mkdir -p $(DEMO_OUT)
	$(NEUROCC) inspect $(DEMO_MODEL) --json $(DEMO_OUT)/braille_inspect.json
	$(NEUROCC) compile $(DEMO_MODEL) --target loihi2 --dt 1e-4 -o $(DEMO_OUT)/braille \
		--report $(DEMO_OUT)/braille_quantization.json
	$(NEUROCC) verify $(DEMO_OUT)/braille --random-input 0.1 --steps 100 --batch 16 --seed 0 \
		--json $(DEMO_OUT)/braille_verify.json
	@echo
	@echo "written under $(DEMO_OUT)/:"
	@echo "  braille/                   the Loihi 2 artifact (manifest.json, program.npz, source.nir)"
	@echo "  braille_inspect.json       the model's nodes and counts"
	@echo "  braille_quantization.json  per-layer quantization report and pass timings"
	@echo "  braille_verify.json        the verdict: emulator vs Lava and vs the float model"

# Intel's Lava (the Loihi 2 reference) needs numpy<2, so it gets its own venv;
# neurocc talks to it through a subprocess and files, never by import.
lava: $(LAVA_VENV)/.neurocc-lava-ok

$(LAVA_VENV)/.neurocc-lava-ok: $(LAVA_DIR)/build_venv.sh $(LAVA_DIR)/lava311_shim.py
	bash $(LAVA_DIR)/build_venv.sh $(LAVA_VENV)

test: $(STAMP) lava
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
	rm -rf $(VENV) $(LAVA_VENV)
