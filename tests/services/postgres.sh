#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on 127.0.0.1 only:
#
#   tests/services/postgres.sh start   # prints the database URL (and writes it to target/pg/url)
#   tests/services/postgres.sh stop
#
# Debian's PostgreSQL (installed with apt-get if missing); the cluster lives in target/pg and
# runs as an unprivileged user (initdb and pg_ctl refuse root): `roma-pg`, created if needed,
# when this runs as root, else the caller. If that user cannot reach target/ (a checkout under a
# directory only root may enter), the cluster goes to a directory of its own under /tmp instead,
# named in target/pg/data-path. The port is a free one; trust authentication on loopback (a test
# cluster holding nothing).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=$ROOT/target/pg
# Where the cluster is (its data and its socket): target/pg/cluster, or the /tmp fallback.
CLUSTER=$(cat "$DIR/data-path" 2>/dev/null || echo "$DIR/cluster")
DATA=$CLUSTER/data

bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z $dir ]]; then
    echo "PostgreSQL missing: installing it with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$dir"
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    chown -R roma-pg "$CLUSTER"
    # su's -c: each argument quoted for the shell it starts; from /, which it can enter.
    (cd / && su -s /bin/sh roma-pg -c "$(printf '%q ' "$@")")
  else
    "$@"
  fi
}

# Picks the cluster's directory (see the top) and makes it, empty, for its owner.
place() {
  rm -f "$DIR/data-path"
  CLUSTER=$DIR/cluster
  if [[ $(id -u) -eq 0 ]]; then
    id roma-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin roma-pg
    mkdir -p "$CLUSTER"
    chown roma-pg "$CLUSTER"
    if ! (cd / && su -s /bin/sh roma-pg -c "test -w $(printf '%q' "$CLUSTER")"); then
      CLUSTER=/tmp/roma-pg-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)
      echo "roma-pg cannot reach $DIR: the cluster goes to $CLUSTER" >&2
      echo "$CLUSTER" >"$DIR/data-path"
    fi
  fi
  rm -rf "$CLUSTER"
  mkdir -p "$CLUSTER/data"
  DATA=$CLUSTER/data
}

case ${1:-} in
  start)
    BIN=$(bin_dir)
    mkdir -p "$DIR"
    if [[ -f $DATA/postmaster.pid ]]; then
      as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
    fi
    place
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # A socket directory inside target/ (the default one needs root), few connections' worth
    # of memory, no fsync (a test cluster).
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$CLUSTER/server.log" -w -t 60 \
      -o "-h 127.0.0.1 -p $PORT -k $CLUSTER -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null
    URL="postgres://postgres@127.0.0.1:$PORT/postgres"
    echo "$URL" >"$DIR/url"
    echo "$URL"
    ;;
  stop)
    if [[ -f $DATA/postmaster.pid ]]; then
      BIN=$(bin_dir)
      as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
