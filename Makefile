PYTHON ?= python3
VENV := .venv
# Rebuilt only when pyproject.toml (the dependency list) changes.
STAMP := $(VENV)/.installed-from-pyproject
NEUROCC := $(VENV)/bin/neurocc

DEMO_OUT := out/demo

LAVA_VENV := .venv-lava
LAVA_DIR := backends/loihi2/lava

XYLO_VENV := .venv-xylo
XYLO_DIR := backends/xylo/xylosim

.PHONY: demo test bench mutation lava xylo browser clean distclean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

# The bundled trained model (64 -> 128 -> 10 LIF on scikit-learn's 8x8 digits, see
# compiler/demo/PROVENANCE.md): inspect it, compile it for Loihi 2 (calibrated on
# training images), verify the artifact on the emulator against Lava and the float
# model on the 360 test images, and report both test accuracies.
demo: $(STAMP) lava
	@$(VENV)/bin/python -m neurocc.compiler.demo export $(DEMO_OUT)
	$(NEUROCC) inspect $(DEMO_OUT)/digits.nir
	$(NEUROCC) compile $(DEMO_OUT)/digits.nir --target loihi2 --calibrate $(DEMO_OUT)/calibration.npy \
		-o $(DEMO_OUT)/digits --report $(DEMO_OUT)/digits_quantization.json
	$(NEUROCC) verify $(DEMO_OUT)/digits --input $(DEMO_OUT)/test_spikes.npy \
		--json $(DEMO_OUT)/digits_verify.json
	@$(VENV)/bin/python -m neurocc.compiler.demo accuracy $(DEMO_OUT)/digits
	$(NEUROCC) profile $(DEMO_OUT)/digits --input $(DEMO_OUT)/test_spikes.npy --energy-from loihi1 \
		--json $(DEMO_OUT)/digits_profile.json --html $(DEMO_OUT)/digits_report.html
	@echo
	@echo "written under $(DEMO_OUT)/:"
	@echo "  digits/                   the Loihi 2 artifact (manifest.json, program.npz, source.nir)"
	@echo "  digits_quantization.json  per-layer quantization report and pass timings"
	@echo "  digits_verify.json        the verdict: emulator vs Lava and vs the float model"
	@echo "  digits_profile.json       sparsity, synaptic operations, memory, energy (Loihi 1 constants)"
	@echo "  digits_report.html        the same as one page: open it in a browser"

# Intel's Lava (the Loihi 2 reference) needs numpy<2, so it gets its own venv;
# neurocc talks to it through a subprocess and files, never by import.
lava: $(LAVA_VENV)/.neurocc-lava-ok

$(LAVA_VENV)/.neurocc-lava-ok: $(LAVA_DIR)/build_venv.sh $(LAVA_DIR)/lava311_shim.py
	bash $(LAVA_DIR)/build_venv.sh $(LAVA_VENV)

# SynSense's bit-accurate Xylo simulator (xylosim, no license) and rockpool (AGPL-3.0)
# are installed tools in their own venv; neurocc talks to them through a subprocess
# and files, never by import. The first build compiles xylosim (about a minute).
xylo: $(XYLO_VENV)/.neurocc-xylo-ok

$(XYLO_VENV)/.neurocc-xylo-ok: $(XYLO_DIR)/build_venv.sh
	bash $(XYLO_DIR)/build_venv.sh $(XYLO_VENV)

# The HTML report's test opens it in headless Chromium (Debian's package). Installed
# where apt-get can (as root, as on CI); elsewhere that one test says why it skipped.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "could not install chromium: the HTML report test will skip"; \
	else echo "no chromium and no apt-get as root: the HTML report test will skip"; fi

test: $(STAMP) lava xylo browser
	$(VENV)/bin/python -m pytest -q

# The conformance suites' power: one-token mutants of a kernel must each fail most of
# its random programs: Xylo's 50 against xylosim (tests/mutation_xylo.py, about 10
# minutes), the emulator's convolution against Lava's Conv (tests/mutation_conv.py).
mutation: $(STAMP) xylo lava
	$(VENV)/bin/python tests/mutation_xylo.py
	$(VENV)/bin/python tests/mutation_conv.py

bench: $(STAMP)
	@set -e; for script in bench/*.py; do \
		echo "== $$script"; $(VENV)/bin/python $$script; \
	done

# Removes what the commands above wrote; keeps .venv (see distclean).
clean:
	rm -rf out bench/results .pytest_cache .hypothesis build dist
	find . -name __pycache__ -type d -not -path "./.venv*" -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(LAVA_VENV) $(XYLO_VENV)
