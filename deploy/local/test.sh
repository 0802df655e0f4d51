#!/usr/bin/env bash
# make test: runs every module's tests (with the race detector, systemtest
# aside, see below) against a private, non-durable MariaDB on 127.0.0.1:3308
# (data in .run/testdb), which is stopped afterwards whether the tests pass
# or not. NATS is embedded in the test binaries. Extra arguments go to go
# test (e.g. -run TestTransfer). TEST_P: how many test binaries of the other
# modules run at once (-p); SYSTEST_PARALLEL: how many systemtest tests
# besides the nemesis runs, which run all five at once.
# QUICK=1: make test-quick (see below).
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
for m in "${MODULES[@]}"; do [ "$m" = systemtest ] || pkgs+=("./$m/..."); done
if [ -n "${QUICK:-}" ]; then
	# make test-quick, for the edit loop: -short and no race detector, and
	# no systemtest, whose every test runs service processes.
	go test -short -count=1 -p "${TEST_P:-4}" "$@" "${pkgs[@]}"
	exit
fi
# systemtest runs beside the other modules rather than after them: it is the
# longest package and mostly waits (fault schedules, recoveries), where they
# mostly compute. Its output is shown when both are done. It runs without the
# race detector, which would watch only the harness: the services it tests
# are processes of their own, built without it, and their code runs under
# -race in the packages' own tests.
#
# Its nemesis runs (TestNemesis and the injected bugs' cases, five fleets of
# some two minutes each) get a go test of their own, started at once: in one
# process they waited for -parallel's slots behind a dozen shorter tests and
# ended a minute after everything else. Both use the service binaries
# built once before them (WALLET_SYSTEST_BIN). Extra arguments that pick
# tests (-run, -skip) keep systemtest in one process.
SYSTEST_LOG=$ROOT/.run/systemtest.log
NEMESIS_LOG=$ROOT/.run/systemtest-nemesis.log
export WALLET_SYSTEST_BIN=$ROOT/.run/systemtest-bin
rm -rf "$WALLET_SYSTEST_BIN" "$NEMESIS_LOG"
trap 'deploy/local/mariadb.sh stop "$DIR"; rm -rf "$WALLET_SYSTEST_BIN"' EXIT
split=1
for a in "$@"; do
	case $a in -run | -run=* | -skip | -skip=* | -test.run* | -test.skip*) split= ;; esac
done
run_systemtest() {
	local status=0 nemesis
	if [ -z "$split" ]; then
		go test -count=1 -timeout 20m -parallel "${SYSTEST_PARALLEL:-4}" "$@" ./systemtest/... >"$SYSTEST_LOG" 2>&1 || status=$?
		return "$status"
	fi
	# The test binary's packages (nats-server among them) and the service
	# binaries are built once, here, not by both processes at once on a
	# cold build cache: a run that picks no test still runs TestMain, which
	# builds the binaries into WALLET_SYSTEST_BIN.
	go test -count=1 -run '^$' ./systemtest/ >"$SYSTEST_LOG" 2>&1 || return 1
	go test -count=1 -timeout 20m -parallel 5 -run '^TestNemesis' "$@" ./systemtest/ >"$NEMESIS_LOG" 2>&1 &
	nemesis=$!
	go test -count=1 -timeout 20m -parallel "${SYSTEST_PARALLEL:-4}" -skip '^TestNemesis' "$@" ./systemtest/... >"$SYSTEST_LOG" 2>&1 || status=$?
	wait "$nemesis" || status=$?
	return "$status"
}
run_systemtest "$@" &
systest_pid=$!
status=0
go test -race -count=1 -timeout 20m -p "${TEST_P:-4}" "$@" "${pkgs[@]}" || status=$?
wait "$systest_pid" || status=$?
cat "$SYSTEST_LOG"
[ ! -s "$NEMESIS_LOG" ] || cat "$NEMESIS_LOG"
exit "$status"
