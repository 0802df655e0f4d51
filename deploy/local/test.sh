#!/usr/bin/env bash
# make test: runs every module's tests with the race detector against a
# private, non-durable MariaDB on 127.0.0.1:3308 (data in .run/testdb), which
# is stopped afterwards whether the tests pass or not. NATS is embedded in the
# test binaries. Extra arguments go to go test (e.g. -run TestTransfer).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export PATH="/usr/local/go/bin:$PATH"

DIR=$ROOT/.run/testdb
PORT=${WALLET_TEST_MARIADB_PORT:-3308} # another port lets two checkouts test at once
MODULES=(pkg account-service ledger-service outbox-relay bench systemtest)

mkdir -p "$ROOT/.run"
# One make test at a time owns .run/testdb: a second one waits here.
exec 9>"$ROOT/.run/testdb.lock"
if ! flock -n 9; then
	echo "test.sh: another make test is using .run/testdb; waiting for it" >&2
	flock 9
fi

deploy/local/mariadb.sh install
trap 'deploy/local/mariadb.sh stop "$DIR"' EXIT
MARIADB_ARGS="--innodb-flush-log-at-trx-commit=0 --sync-binlog=0 --innodb-doublewrite=0" \
	deploy/local/mariadb.sh start "$DIR" "$PORT"
export WALLET_TEST_MYSQL="wallet:wallet@tcp(127.0.0.1:$PORT)/"

pkgs=()
for m in "${MODULES[@]}"; do pkgs+=("./$m/..."); done
go test -race -count=1 -timeout 20m "$@" "${pkgs[@]}"
