# The two fresh-machine commands of the README:
#   make demo   installs vcm into .venv and codes the bundled example picture (offline, no weights needed)
#   make test   installs vcm with its test extras into .venv and runs the default test suite (offline)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vcm-installed
# torch/torchvision are pinned to the builds that lie on this project's machines; elsewhere pip fetches them.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
OFFLINE := YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0 HF_HUB_OFFLINE=1

.PHONY: install demo test test-slow bench clean uvg266
install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: install
	mkdir -p out
	$(OFFLINE) YOLO_CONFIG_DIR=$$(mktemp -d) $(VENV)/bin/vcm encode --example -o out/example.266 --json out/example.json
	$(OFFLINE) $(VENV)/bin/vcm decode out/example.266 -o out/example.png

test: install
	$(OFFLINE) YOLO_CONFIG_DIR=$$(mktemp -d) $(PY) -m pytest -m "not slow" -q

# pytest exit 5 (no slow test collected) is reported, not hidden, and does not fail this optional step.
test-slow: install
	$(OFFLINE) YOLO_CONFIG_DIR=$$(mktemp -d) $(PY) -m pytest -m slow -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "test-slow: no slow tests collected"; else exit $$rc; fi

# Optional: the uvg266 encoder (ctu mode) built from ../shared/uvg266 into ~/.cache/vcm/uvg266 (stdlib only; needs
# cmake and a C compiler; ~30-90 s once, then instant). The tests build it themselves when the source is there.
uvg266:
	python3 tools/build_uvg266.py

clean:
	rm -rf $(VENV) out build *.egg-info
