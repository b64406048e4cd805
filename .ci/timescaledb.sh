#!/usr/bin/env bash
# A second PostgreSQL 15 cluster "tsdb" on 127.0.0.1:5433 with TimescaleDB, for the tests' timescaledb
# backend. The main cluster (5432) stays plain PostgreSQL. Idempotent: an existing cluster is only
# started, and the installer skips every step already done. The TimescaleDB build is not part of the
# project: it is taken from ../shared/timescaledb next to the repository; where that is missing this
# prints one line and does nothing (the TimescaleDB tests then skip locally and fail with CI=true).
#
#   sudo .ci/timescaledb.sh          environment: TSDB_CLUSTER (tsdb), TSDB_PORT (5433), TSDB_INSTALLER
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=${TSDB_CLUSTER:-tsdb}
PORT=${TSDB_PORT:-5433}
INSTALLER=${TSDB_INSTALLER:-../shared/timescaledb/install.sh}
PGMAJOR=15

if [ ! -x "$INSTALLER" ]; then
  echo "timescaledb: $INSTALLER not found, TimescaleDB tests will skip (fail with CI=true)"
  exit 0
fi
if pg_isready -h 127.0.0.1 -p "$PORT" -q 2>/dev/null \
  && psql -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc "SHOW shared_preload_libraries" 2>/dev/null \
    | grep -q timescaledb; then
  exit 0  # already running with TimescaleDB preloaded
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "timescaledb: cluster $CLUSTER on port $PORT is not ready; run .ci/timescaledb.sh as root to create it"
  [ "${CI:-}" != true ] || exit 1
  exit 0
fi
if ! pg_lsclusters --no-header | awk -v c="$CLUSTER" '$1 == "'$PGMAJOR'" && $2 == c' | grep -q .; then
  pg_createcluster "$PGMAJOR" "$CLUSTER" -p "$PORT" -- --auth=trust >/dev/null
fi
"$INSTALLER" "$CLUSTER"
for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p "$PORT" -q && break; sleep 1; done
pg_isready -h 127.0.0.1 -p "$PORT" -q
