#!/usr/bin/env bash
# schemathesis against a running reference server (ROMA_BASE_URL, ROMA_TOKEN opening project
# `demo`, seeded with --demo; tests/conformance/run.sh starts one). Every check
# (`--checks all`) and every phase: the document's examples, coverage, fuzzing, and the stateful
# phase that follows the document's links (export -> job status -> download). Two passes:
#
#   demo          path parameters pinned to project/instance `demo`, body ids drawn from the demo
#                 assets part of the time (schemathesis-demo.toml): gets past authorization to
#                 validation, jobs, downloads and imports
#   any-project   every parameter generated (schemathesis-any-project.toml): path ids of every
#                 shape and length, other projects (403), missing and wrong tokens (401)
#
# tests/conformance/schemathesis_hooks.py tells schemathesis what the document states outside
# JSON Schema (see its docstring). One worker: positive ExportAsset/ImportAsset cases wait for
# the run's previous job to end (one running job per project).
#
# How hard it tries (the defaults fit CI, about a minute on 2 cores):
#   ST_MAX_EXAMPLES   test cases per operation and phase (default 100)
#   ST_SEED           the random seed (default fixed, so CI runs are reproducible; any integer
#                     explores other inputs)
#   ST_MAX_TIME       seconds; fuzzing and stateful testing repeat until spent (default unset)
#   ST_PASSES         which passes (default "demo any-project")
# e.g. ST_MAX_EXAMPLES=2000 ST_SEED=$RANDOM ST_MAX_TIME=1800 tests/conformance/run.sh schemathesis
#
# Reports (JUnit) and schemathesis' own state go to target/conformance/schemathesis/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CONFORMANCE_VENV=${CONFORMANCE_VENV:-$ROOT/target/conformance-venv}
OUT=$ROOT/target/conformance/schemathesis
: "${ROMA_BASE_URL:?set ROMA_BASE_URL (tests/conformance/run.sh starts a server)}"
: "${ROMA_TOKEN:?set ROMA_TOKEN}"
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-100}
SEED=${ST_SEED:-20261123}

export ROMA_BASE_URL ROMA_TOKEN
export ROMA_OPENAPI=$ROOT/openapi/roma-assets.yaml
export SCHEMATHESIS_HOOKS=schemathesis_hooks
export PYTHONPATH=$HERE${PYTHONPATH:+:$PYTHONPATH}

mkdir -p "$OUT"
# schemathesis keeps its example database and replay files in the working directory.
cd "$OUT"

extra=()
[[ -n ${ST_MAX_TIME:-} ]] && extra+=(--max-time "$ST_MAX_TIME")

failed=()
for pass in ${ST_PASSES:-demo any-project}; do
  echo "---- schemathesis, pass $pass: $MAX_EXAMPLES examples per operation and phase, seed $SEED"
  if "$CONFORMANCE_VENV/bin/schemathesis" --config-file "$HERE/schemathesis-$pass.toml" run \
    "$ROMA_OPENAPI" \
    --url "$ROMA_BASE_URL" \
    --checks all \
    --workers 1 \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --request-timeout 30 \
    --generation-database "$OUT/hypothesis-$pass" \
    --report junit --report-junit-path "$OUT/junit-$pass.xml" \
    --no-color \
    "${extra[@]}"; then
    echo "---- schemathesis, pass $pass: ok"
  else
    echo "---- schemathesis, pass $pass: FAILED"
    failed+=("$pass")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "schemathesis failed in pass(es): ${failed[*]} (reproduce: ST_SEED=$SEED ST_MAX_EXAMPLES=$MAX_EXAMPLES ST_PASSES=\"${failed[*]}\" tests/conformance/run.sh schemathesis)" >&2
  exit 1
fi
