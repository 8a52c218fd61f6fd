#!/usr/bin/env bash
# Creates .venv/ at the repository root with the pinned OpenMMLab stack and this package in editable
# mode. Idempotent: a second run only verifies the environment (seconds).
#
#   GHOSTV2_MM_WHEELS=DIR  take mmcv (and any other wheel) from DIR instead of building it.
#   GHOSTV2_MM_CACHE=DIR   where a locally built mmcv wheel and generated datasets are cached
#                          (default: ~/.cache/ghostv2_mm, outside the clone).
#   GHOSTV2_MM_MMCV_INDEX_TIMEOUT=S  seconds to wait for OpenMMLab's wheel index (default 5).
#   GHOSTV2_MM_LITERT_CONVERTER=0  skip the LiteRT converter environment (2.6 GB, about a minute).
#
# mmcv 2.1.0 (with compiled ops) comes from the first of: OpenMMLab's prebuilt wheel for the
# installed torch and CUDA (the index `mim install` uses; CUDA ops on GPU machines), the wheel
# directory, the cache, a source build (cached for the next run).
#
# Mobile runtimes: ncnn, LiteRT's interpreter and pnnx (ONNX -> ncnn) go into .venv without their
# declared dependencies (requirements/mobile.txt); onnx2tf (ONNX -> LiteRT) gets an environment of
# its own, $CACHE/litert-converter (requirements/litert_converter.txt), whose pins clash with the
# stack. ghostv2_mm.deploy.mobile runs both converters as commands; neither downloads anything.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
CACHE="${GHOSTV2_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ghostv2_mm}"
WHEEL_CACHE="$CACHE/wheels"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
MOBILE="$ROOT/requirements/mobile.txt"
CONVERTER="$ROOT/requirements/litert_converter.txt"
CONVERTER_ENV="$CACHE/litert-converter"
STAMP="$VENV/.ghostv2_mm_stamp"

log() { echo "[setup_env] $*" >&2; }
die() { echo "[setup_env] ERROR: $*" >&2; exit 1; }

verify() {
    "$PY" - <<'PY'
import importlib
import sys

try:
    import mmcv
    import mmcv._ext  # noqa: F401  compiled ops that mmdet/mmseg import eagerly
except ImportError as e:
    sys.exit(f'mmcv {getattr(mmcv, "__version__", "?")} has no compiled ops (mmcv._ext): {e}. '
             'Rebuild it with MMCV_WITH_OPS=1 (delete the cached wheel and rerun tools/setup_env.sh).')
for name in ('torch', 'torchvision', 'mmengine', 'mmdet', 'mmseg', 'mmpretrain', 'ghostv2_mm',
             'ncnn', 'ai_edge_litert.interpreter'):
    importlib.import_module(name)
from ghostv2_mm.deploy.mobile import pnnx_binary
pnnx_binary()  # raises, naming this script, when the wheel's binary is missing
import torch
import torchvision.ops  # noqa: F401  fails when torchvision does not match torch
from mmcv.ops import nms

boxes, scores = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]]), torch.tensor([.9, .8])
devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
for device in devices:
    try:
        _, keep = nms(boxes.to(device), scores.to(device), 0.5)
    except RuntimeError as e:
        sys.exit(f'mmcv {mmcv.__version__} ops do not run on {device} tensors ({e}); on a GPU '
                 'machine install the wheel built for this torch and CUDA (tools/setup_env.sh '
                 'tries OpenMMLab\'s index first) or build mmcv from source with CUDA')
    assert keep.tolist() == [0], keep
print(f'[setup_env] ok: torch {torch.__version__}, mmcv {mmcv.__version__} with ops '
      f'(checked on {", ".join(devices)})', file=sys.stderr)
PY
}

stamp_of() {
    cat "$CONSTRAINTS" "$MOBILE" "$ROOT/setup.py" "$ROOT/pyproject.toml" \
        "$ROOT/tools/setup_env.sh" | sha256sum | cut -d' ' -f1
}

# The LiteRT converter environment, idempotent with a stamp of its own (seconds when present).
setup_litert_converter() {
    if [[ "${GHOSTV2_MM_LITERT_CONVERTER:-1}" == 0 ]]; then
        log "GHOSTV2_MM_LITERT_CONVERTER=0: no LiteRT converter environment"
        return 0
    fi
    local stamp="$CONVERTER_ENV/.ghostv2_mm_stamp" want
    want="$(sha256sum "$CONVERTER" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$CONVERTER_ENV/bin/onnx2tf" \
            && -x "$CONVERTER_ENV/bin/onnxsim" ]]; then
        return 0
    fi
    log "creating the LiteRT converter environment $CONVERTER_ENV (onnx2tf; ~2.6 GB, ~1 min)"
    rm -rf "$CONVERTER_ENV"
    python3.11 -m venv "$CONVERTER_ENV"
    "$CONVERTER_ENV/bin/python" -m pip install --disable-pip-version-check --only-binary :all: \
        -r "$CONVERTER"
    # onnx2tf imports tensorflow and onnxsim at start: --help runs both imports.
    local tool
    for tool in onnx2tf onnxsim; do
        "$CONVERTER_ENV/bin/$tool" --help >/dev/null 2>&1 \
            || die "$tool in $CONVERTER_ENV does not run (try: $CONVERTER_ENV/bin/$tool --help)"
    done
    echo "$want" > "$stamp"
}

if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_of)" ]]; then
    if verify; then
        setup_litert_converter
        exit 0
    fi
    log "existing environment failed verification; reinstalling"
fi

command -v python3.11 >/dev/null || die "python3.11 is required"
[[ -x "$PY" ]] || python3.11 -m venv "$VENV"
PIP=("$PY" -m pip install --disable-pip-version-check -c "$CONSTRAINTS")
FIND_LINKS=(--find-links "$WHEEL_CACHE")
if [[ -n "${GHOSTV2_MM_WHEELS:-}" ]]; then
    [[ -d "$GHOSTV2_MM_WHEELS" ]] || die "GHOSTV2_MM_WHEELS=$GHOSTV2_MM_WHEELS is not a directory"
    FIND_LINKS+=(--find-links "$GHOSTV2_MM_WHEELS")
fi
mkdir -p "$WHEEL_CACHE"

log "installing build tools and torch/torchvision"
"${PIP[@]}" "setuptools<70" wheel ninja "numpy<2"
"${PIP[@]}" torch torchvision "numpy<2"

# OpenMMLab's prebuilt wheels: https://download.openmmlab.com/mmcv/dist/<cuXYZ|cpu>/torchX.Y/
openmmlab_index() {
    "$PY" - <<'PY'
import torch
cuda = torch.version.cuda
platform = f'cu{cuda.replace(".", "")}' if cuda else 'cpu'
major_minor = '.'.join(torch.__version__.split('+')[0].split('.')[:2])
print(f'https://download.openmmlab.com/mmcv/dist/{platform}/torch{major_minor}/index.html')
PY
}
install_openmmlab_mmcv() {
    local index timeout="${GHOSTV2_MM_MMCV_INDEX_TIMEOUT:-5}"
    index="$(openmmlab_index)"
    # One short request first, so an offline machine falls through in seconds.
    if ! "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))" \
            "$index" "$timeout" 2>/dev/null; then
        log "OpenMMLab's wheel index $index is not reachable (${timeout}s); trying local wheels"
        return 1
    fi
    log "installing mmcv 2.1.0 from OpenMMLab's index $index"
    "$PY" -m pip install --disable-pip-version-check --no-index --no-deps --timeout "$timeout" \
        --find-links "$index" mmcv==2.1.0
}

have_mmcv_wheel() {
    local dir
    for dir in "${GHOSTV2_MM_WHEELS:-}" "$WHEEL_CACHE"; do
        [[ -n "$dir" ]] && compgen -G "$dir/mmcv-2.1.0-*.whl" >/dev/null && return 0
    done
    return 1
}
if ! install_openmmlab_mmcv; then
    if ! have_mmcv_wheel; then
        log "no mmcv 2.1.0 wheel found; building it from the PyPI sdist with compiled ops (~10-15 min on 2 cores)"
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
            -c "$CONSTRAINTS" mmcv==2.1.0 -w "$WHEEL_CACHE"
    fi
    log "installing mmcv 2.1.0 from a local wheel"
    "$PY" -m pip install --disable-pip-version-check --no-index --no-deps "${FIND_LINKS[@]}" \
        mmcv==2.1.0
fi

log "installing the OpenMMLab stack and ghostv2_mm (editable)"
"${PIP[@]}" "${FIND_LINKS[@]}" -e "$ROOT[all,tests]" "numpy<2" "opencv-python<4.12"

log "installing the ncnn and LiteRT runtimes and pnnx (requirements/mobile.txt, --no-deps)"
"${PIP[@]}" "${FIND_LINKS[@]}" --no-deps -r "$MOBILE"

verify || die "environment verification failed (see above)"
setup_litert_converter
stamp_of > "$STAMP"
log "done: $VENV"
