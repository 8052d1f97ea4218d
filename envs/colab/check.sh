#!/usr/bin/env bash
# Check ferlib in an environment built like today's Colab (envs/colab/requirements.txt):
# build the wheel, install it as Colab's install cell does, check that it replaced none of
# Colab's packages, predict a photo with the shipped model, run the quick tests that touch
# OpenCV, TensorFlow and the shipped model, then run the smoke notebooks through papermill.
#
#   bash envs/colab/check.sh                   # environment in ~/.cache/ferlib/envs/colab
#   DATA=/path/to/fer2013.csv.gz bash envs/colab/check.sh
#
# Needs Python 3.12 (PYTHON=...) and PyPI. Writes its record into envs/colab/last-check/.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="${PYTHON:-python3.12}"
ENV="${ENV_DIR:-$HOME/.cache/ferlib/envs/colab}"
DATA="${DATA:-synthetic}"
RECORD="$REPO/envs/colab/last-check"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$RECORD"
step() { echo "== $(date -u +%H:%M:%S) $*"; }

step "environment: $PYTHON -> $ENV"
rm -rf "$ENV"  # a fresh environment every time, as a new Colab runtime is (pip's cache keeps it quick)
"$PYTHON" -m venv "$ENV"
"$ENV/bin/python" -m pip install -q --upgrade pip
"$ENV/bin/python" -m pip install -q -r "$REPO/envs/colab/requirements.txt"
"$ENV/bin/python" -m pip freeze --all | sort > "$WORK/before.txt"

step "ferlib's wheel, installed with its dependencies (as the notebooks' install cell does)"
"$ENV/bin/python" -m pip wheel -q --no-deps -w "$WORK/wheel" "$REPO"
"$ENV/bin/python" -m pip install -q "$WORK"/wheel/ferlib-*.whl
"$ENV/bin/python" -m pip freeze --all | sort > "$WORK/after.txt"
grep -v '^ferlib' "$WORK/after.txt" > "$RECORD/freeze.txt" || true
"$ENV/bin/python" "$REPO/envs/colab/unchanged.py" "$REPO/envs/colab/requirements.txt" "$WORK/before.txt" "$WORK/after.txt"
"$ENV/bin/python" -m pip check

cd "$WORK"  # away from the checkout: `import ferlib` must find the installed wheel
step "versions"
"$ENV/bin/python" - <<'PY' | tee "$RECORD/versions.txt"
import platform, cv2, keras, numpy, tensorflow, ferlib, ferlib.detector as d
print("python", platform.python_version())
print("tensorflow", tensorflow.__version__, "| keras", keras.__version__, "| numpy", numpy.__version__, "| opencv", cv2.__version__)
print("ferlib", ferlib.__version__, "from", ferlib.__file__.split("site-packages")[-1] if "site-packages" in ferlib.__file__ else ferlib.__file__)
print("face detector:", d.detector_name())
PY

step "ferlib predict with the shipped model"
"$ENV/bin/python" -c "import skimage.data, PIL.Image; PIL.Image.fromarray(skimage.data.astronaut()).save('astronaut.jpg')"
"$ENV/bin/ferlib" predict astronaut.jpg --out predictions

step "the quick tests of detection, prediction, video and the shipped model (against the installed wheel)"
cp -r "$REPO/tests" "$WORK/tests"
export FERLIB_TEST_YUNET="${FERLIB_FACE_DETECTOR:-}"  # the YuNet test uses a copy given to the check
"$ENV/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider "$WORK/tests/test_detector.py" "$WORK/tests/test_predict.py" \
    "$WORK/tests/test_video.py" "$WORK/tests/test_shipped.py" 2>&1 | tail -5

step "the smoke notebooks (data: $DATA)"
"$ENV/bin/ferlib" run --profile smoke --data "$DATA" --notebooks "$REPO/notebooks" --run-dir "$WORK/run" --no-book
"$ENV/bin/ferlib" status "$WORK/run" | tee "$RECORD/smoke-status.txt"
date -u +"checked %Y-%m-%d %H:%M UTC" >> "$RECORD/versions.txt"
step "done"
