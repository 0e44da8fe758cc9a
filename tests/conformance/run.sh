#!/usr/bin/env bash
# The conformance suite against the real server: `roma-assets serve --demo` on a free loopback
# port with a fresh data directory and a random token for project `demo`, then
#
#   schemathesis   tests/conformance/schemathesis.sh: schemathesis, every check and phase
#   client         tests/conformance/generated_client.py: openapi-generator's Python client,
#                  export -> status -> download -> import -> status -> listings
#   sdk            tests/conformance/sdk_walk.py: the official Huawei Cloud Python SDK, unmodified,
#                  with AK/SK only: the same walk, plus a wrong SK and a stale date
#
# Usage: tests/conformance/run.sh [schemathesis] [client] [sdk]   (all when none is named)
#
# Each part gets its own server and data directory, so that the client's listings are not
# disturbed by what schemathesis imported. Needs target/debug/roma-assets (cargo build) and the
# pinned tools of tests/conformance/requirements.txt (.ci/run installs them):
#   ROMA_BIN            the server binary (default target/debug/roma-assets)
#   CONFORMANCE_VENV    the virtualenv holding the tools (default target/conformance-venv)
#   SDK_VENV            the virtualenv holding tests/conformance/sdk-requirements.txt
#                       (default target/sdk-venv; only the sdk part needs it)
# schemathesis.sh reads ST_MAX_EXAMPLES, ST_SEED and ST_MAX_TIME (how long and how hard it tries).
# Writes only under target/conformance/. Exits non-zero if any part failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
ROMA_BIN=${ROMA_BIN:-$ROOT/target/debug/roma-assets}
CONFORMANCE_VENV=${CONFORMANCE_VENV:-$ROOT/target/conformance-venv}
SDK_VENV=${SDK_VENV:-$ROOT/target/sdk-venv}
OUT=$ROOT/target/conformance
mkdir -p "$OUT"

PARTS=("$@")
[[ ${#PARTS[@]} -gt 0 ]] || PARTS=(schemathesis client sdk)

SERVER_PID=""

stop_server() {
  if [[ -n $SERVER_PID ]]; then
    # Only the process this script started: SIGTERM lets it finish its jobs (graceful shutdown).
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap stop_server EXIT

# Starts a server for part $1; sets ROMA_BASE_URL, ROMA_TOKEN and an AK/SK pair for project demo
# (HUAWEICLOUD_SDK_AK/_SK/_PROJECT_ID, the official SDK's variables).
start_server() {
  local part=$1 data=$OUT/data-$1 log=$OUT/server-$1.log
  rm -rf "$data"
  ROMA_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  HUAWEICLOUD_SDK_AK=$(python3 -c 'import secrets; print("CI" + secrets.token_hex(9).upper())')
  HUAWEICLOUD_SDK_SK=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
  HUAWEICLOUD_SDK_PROJECT_ID=demo
  # Secrets go through the environment, not the command line (ps shows that).
  ROMA_ASSETS_TOKENS="demo=$ROMA_TOKEN" \
    ROMA_ASSETS_CREDENTIALS="demo=$HUAWEICLOUD_SDK_AK:$HUAWEICLOUD_SDK_SK" RUST_LOG=${RUST_LOG:-warn} \
    "$ROMA_BIN" serve --listen 127.0.0.1:0 --data-dir "$data" --demo --shutdown-grace-secs 2 \
    >"$log" 2>&1 &
  SERVER_PID=$!
  # Port 0: the OS picks a free port; the server prints the address it got.
  ROMA_BASE_URL=""
  for _ in $(seq 1 300); do
    ROMA_BASE_URL=$(sed -n 's/^  base URL: *\(http:[^ ]*\)$/\1/p' "$log" | head -n 1)
    [[ -n $ROMA_BASE_URL ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log"; echo "the server exited" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n $ROMA_BASE_URL ]] || { cat "$log"; echo "the server printed no base URL in 30 s" >&2; exit 1; }
  for _ in $(seq 1 300); do
    if python3 -c 'import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=2).status == 200 else 1)' \
      "$ROMA_BASE_URL" 2>/dev/null; then
      echo "server for $part: $ROMA_BASE_URL (log: ${log#"$ROOT"/})"
      export ROMA_BASE_URL ROMA_TOKEN HUAWEICLOUD_SDK_AK HUAWEICLOUD_SDK_SK HUAWEICLOUD_SDK_PROJECT_ID
      return
    fi
    sleep 0.1
  done
  cat "$log"
  echo "no answer from $ROMA_BASE_URL/healthz in 30 s" >&2
  exit 1
}

FAILED=()
for part in "${PARTS[@]}"; do
  started=$SECONDS
  start_server "$part"
  case $part in
    schemathesis) cmd=(bash tests/conformance/schemathesis.sh) ;;
    client) cmd=("$CONFORMANCE_VENV/bin/python" tests/conformance/generated_client.py) ;;
    sdk) cmd=("$SDK_VENV/bin/python" tests/conformance/sdk_walk.py) ;;
    *) echo "unknown part $part (schemathesis, client, sdk)" >&2; exit 2 ;;
  esac
  if "${cmd[@]}"; then
    echo "conformance $part: ok in $((SECONDS - started))s"
  else
    echo "conformance $part: FAILED in $((SECONDS - started))s"
    FAILED+=("$part")
  fi
  stop_server
done
if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "conformance failed: ${FAILED[*]}" >&2
  exit 1
fi
