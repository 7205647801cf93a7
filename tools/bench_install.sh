#!/usr/bin/env bash
# The light core install, measured: build the wheel, install it into a fresh venv under /tmp WITHOUT torch,
# report the install time and the venv's size, check that no torch/timm/ultralytics came along, and run the
# commands the light core promises (vcm --help, vcm doctor, vcm vvc encode, vcm encode hog-person + prior).
#
#   bash tools/bench_install.sh                 # uses python3 to build and to make the venv
#   PY=.venv/bin/python PICTURE=bus.jpg bash tools/bench_install.sh
# Keeps the venv (path printed) unless KEEP=0. Network: the package registry only (pip's own download).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
WORK=${WORK:-$(mktemp -d /tmp/vcm-light-XXXXXX)}
VENV=$WORK/venv
OFFLINE=(env YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0 HF_HUB_OFFLINE=1 VCM_CACHE_DIR=$WORK/cache)

rm -rf dist/vcm-*.whl
t0=$(date +%s.%N)
"$PY" -m pip wheel -q --no-deps -w dist . >/dev/null 2>&1
t1=$(date +%s.%N)
WHEEL=$(ls dist/vcm-*.whl)
echo "wheel: $WHEEL ($(du -h "$WHEEL" | cut -f1), built in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s)"

"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
t2=$(date +%s.%N)
"$VENV/bin/python" -m pip install -q "$WHEEL"
t3=$(date +%s.%N)
echo "install: $(printf '%.1f' "$(echo "$t3 - $t2" | bc)") s  (pip install $WHEEL into a fresh venv, pip's cache as it is)"
echo "venv size: $(du -sh "$VENV" | cut -f1)  ($VENV)"
echo "largest packages:"
du -s "$VENV"/lib/python3*/site-packages/* 2>/dev/null | sort -rn | head -8 | \
  awk '{printf "  %6.0f MB  %s\n", $1/1024, $2}' | sed "s#$VENV/lib/python3[^/]*/site-packages/##"

heavy=$("$VENV/bin/python" -m pip list --format=freeze | grep -iE '^(torch|torchvision|timm|ultralytics|triton|nvidia-)' || true)
if [ -n "$heavy" ]; then echo "FAIL: heavy packages in the light install:"; echo "$heavy"; exit 1; fi
echo "no torch/torchvision/timm/ultralytics/triton/nvidia-* installed: ok"

if [ -z "${PICTURE:-}" ]; then  # bus.jpg from the building Python's ultralytics (5 people), read as a file
  PICTURE=$("$PY" -c "import importlib.util,pathlib;s=importlib.util.find_spec('ultralytics');print(pathlib.Path(s.origin).parent/'assets'/'bus.jpg' if s else '')")
fi
cd "$WORK"
run() { echo "\$ $*"; "${OFFLINE[@]}" "$@" 2>&1 | tail -n "${TAIL:-3}"; return "${PIPESTATUS[0]}"; }
TAIL=2 run "$VENV/bin/vcm" --help
TAIL=12 run "$VENV/bin/vcm" doctor
if [ -n "$PICTURE" ] && [ -f "$PICTURE" ]; then
  run "$VENV/bin/vcm" vvc encode "$PICTURE" -q 37 -o "$WORK/plain.266"
  TAIL=6 run "$VENV/bin/vcm" encode "$PICTURE" --detector hog-person --jrd prior -o "$WORK/objects.266"
  run "$VENV/bin/vcm" decode "$WORK/objects.266" -o "$WORK/objects.png"
else
  echo "no picture (set PICTURE=...): skipped the encode checks"
fi
# an extra the light core lacks must be a one-line error naming the extra
if "${OFFLINE[@]}" "$VENV/bin/vcm" encode "${PICTURE:-x.jpg}" --detector yolo11n.pt -o "$WORK/y.266" >"$WORK/yolo.txt" 2>&1; then
  echo "FAIL: a YOLO detector worked without ultralytics"; exit 1
fi
echo "\$ vcm encode ... --detector yolo11n.pt"; tail -1 "$WORK/yolo.txt"
grep -q "vcm\[yolo\]" "$WORK/yolo.txt" || { echo "FAIL: the error does not name vcm[yolo]"; exit 1; }
"${OFFLINE[@]}" "$VENV/bin/python" -c "import sys, vcm.cli, vcm.codec, vcm.detect, vcm.metrics, vcm.coding, vcm.jrd.prior; assert 'torch' not in sys.modules"
echo "light install: ok"
[ "${KEEP:-1}" = 1 ] || rm -rf "$WORK"
