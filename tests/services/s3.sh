#!/usr/bin/env bash
# An S3-compatible server for the tests, on 127.0.0.1 only: moto's server mode (PyPI,
# tests/services/s3-requirements.txt, in target/s3-venv), with one bucket.
#
#   tests/services/s3.sh start   # prints the endpoint (and writes it to target/s3/endpoint)
#   tests/services/s3.sh stop
#
# The bucket is `roma-test`; credentials are moto's test ones (any key is accepted):
# AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=$ROOT/target/s3
VENV=$ROOT/target/s3-venv
REQUIREMENTS=$ROOT/tests/services/s3-requirements.txt
BUCKET=roma-test

case ${1:-} in
  start)
    mkdir -p "$DIR"
    if [[ -x $VENV/bin/python ]] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
      rm -rf "$VENV"
    fi
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    if ! cmp -s "$REQUIREMENTS" "$VENV/.requirements" 2>/dev/null; then
      "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
      cp "$REQUIREMENTS" "$VENV/.requirements"
    fi
    if [[ -f $DIR/pid ]]; then
      kill "$(cat "$DIR/pid")" 2>/dev/null || true
    fi
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$DIR/server.log" 2>&1 &
    echo $! >"$DIR/pid"
    ENDPOINT=http://127.0.0.1:$PORT
    for _ in $(seq 1 100); do
      if "$VENV/bin/python" - "$ENDPOINT" "$BUCKET" 2>/dev/null <<'PY'
import sys
import boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
s3.create_bucket(Bucket=sys.argv[2])
PY
      then
        echo "$ENDPOINT" >"$DIR/endpoint"
        echo "$ENDPOINT"
        exit 0
      fi
      sleep 0.2
    done
    cat "$DIR/server.log" >&2
    echo "moto's server did not answer in 20 s" >&2
    exit 1
    ;;
  stop)
    if [[ -f $DIR/pid ]]; then
      kill "$(cat "$DIR/pid")" 2>/dev/null || true
      rm -f "$DIR/pid"
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
