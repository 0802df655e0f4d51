#!/usr/bin/env bash
# Runs the whole wallet on this machine, without Docker (make run):
#   - builds account-service, ledger-service, outbox-relay and nats-server into bin/
#   - a private MariaDB on 127.0.0.1:3307 with its data in .run/mariadb
#   - the schemas wallet_shard_0..3 and wallet_ledger
#   - nats-server with JetStream on 127.0.0.1:4222 (monitor :8222), data in .run/nats
#   - the three services, logs in .run/logs/<name>.log, pids in .run/<name>.pid
# then waits until every /readyz answers 200. Whatever already runs is left
# alone, so a second run is safe; data in .run/ survives stop.sh and run.sh.
# The services read their configuration as always (defaults < config.yaml <
# WALLET_* environment); the defaults match this stack.
set -euo pipefail

# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

READY_TIMEOUT=${READY_TIMEOUT:-90}

command -v go >/dev/null 2>&1 || { echo "run.sh: go not found (expected in /usr/local/go/bin)" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "run.sh: curl is required" >&2; exit 1; }
mkdir -p "$BIN_DIR" "$LOG_DIR" "$NATS_DIR"

# --- build, while MariaDB installs ---------------------------------------------
# On a fresh machine the OS package install and the first compile are the
# slow parts; they use different resources, so they run side by side.
"$ROOT/deploy/local/mariadb.sh" install &
install_pid=$!

pkgs=()
for svc in "${SERVICES[@]}"; do pkgs+=("./$svc/cmd/$svc"); done
if [ "$BIN_DIR/nats-server" -nt pkg/go.sum ]; then
	echo "building ${SERVICES[*]} (nats-server is up to date)"
else
	echo "building ${SERVICES[*]} and nats-server (from its pinned module)"
	pkgs+=(github.com/nats-io/nats-server/v2)
fi
go build -o "$BIN_DIR/" "${pkgs[@]}"
wait "$install_pid" || { echo "run.sh: MariaDB could not be installed" >&2; exit 1; }

# --- MariaDB -----------------------------------------------------------------
# mariadb.sh start returns once the server answers, also after a crash
# (stale pid and socket files removed, InnoDB recovery waited for).
echo "MariaDB on 127.0.0.1:$MARIADB_PORT (data in .run/mariadb)"
"$ROOT/deploy/local/mariadb.sh" start "$MARIADB_DIR" "$MARIADB_PORT"
sql=""
for schema in "${SCHEMAS[@]}"; do
	sql+="CREATE DATABASE IF NOT EXISTS \`$schema\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; "
done
mariadb --no-defaults --socket="$MARIADB_DIR/mysql.sock" -uroot -e "$sql"

# --- NATS --------------------------------------------------------------------
if pid=$(pid_of nats); then
	echo "nats-server already running (pid $pid)"
else
	echo "starting nats-server on 127.0.0.1:$NATS_PORT"
	start_detached nats "$BIN_DIR/nats-server" --server_name wallet-local \
		-a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" -js -sd "$NATS_DIR"
fi
# After a SIGKILL JetStream recovers its store before /healthz answers 200;
# pid_of ignores a stale pid file (a dead, zombie or recycled pid).
nats_ok=""
nats_deadline=$((SECONDS + ${NATS_START_TIMEOUT:-120}))
while [ "$SECONDS" -lt "$nats_deadline" ]; do
	if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$NATS_MONITOR_PORT/healthz" 2>/dev/null; then
		nats_ok=1
		break
	fi
	pid_of nats >/dev/null || break
	sleep 0.1
done
if [ -z "$nats_ok" ]; then
	echo "run.sh: nats-server is not healthy; last lines of $LOG_DIR/nats.log:" >&2
	tail -n 30 "$LOG_DIR/nats.log" >&2 || true
	exit 1
fi

# --- services ----------------------------------------------------------------
# base_url SVC prints the URL of SVC from its WALLET_*_ADDR (or the default).
base_url() {
	local addr
	case "$1" in
	account-service) addr=${WALLET_ACCOUNT_ADDR:-:8080} ;;
	ledger-service) addr=${WALLET_LEDGER_ADDR:-:8081} ;;
	outbox-relay) addr=${WALLET_RELAY_ADDR:-:8082} ;;
	esac
	local host=${addr%:*} port=${addr##*:}
	case "$host" in "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac
	echo "http://$host:$port"
}

for svc in "${SERVICES[@]}"; do
	if pid=$(pid_of "$svc"); then
		echo "$svc already running (pid $pid); make stop && make run to run a new build"
	else
		echo "starting $svc"
		start_detached "$svc" "$BIN_DIR/$svc"
	fi
done

echo "waiting up to ${READY_TIMEOUT}s for /readyz"
deadline=$((SECONDS + READY_TIMEOUT))
pending=("${SERVICES[@]}")
while [ "${#pending[@]}" -gt 0 ]; do
	still=()
	for svc in "${pending[@]}"; do
		url=$(base_url "$svc")/readyz
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null) || true
		if [ "$code" = 200 ]; then
			echo "  $svc ready ($url)"
			continue
		fi
		if ! pid_of "$svc" >/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			if pid_of "$svc" >/dev/null; then
				echo "run.sh: $svc not ready after ${READY_TIMEOUT}s ($url answered ${code:-nothing})" >&2
			else
				echo "run.sh: $svc exited" >&2
			fi
			echo "last lines of $LOG_DIR/$svc.log:" >&2
			tail -n 40 "$LOG_DIR/$svc.log" >&2 || true
			echo "(make stop ends whatever is still running)" >&2
			exit 1
		fi
		still+=("$svc")
	done
	pending=("${still[@]+"${still[@]}"}")
	[ "${#pending[@]}" -eq 0 ] || sleep 0.5
done

cat <<EOF

The wallet is running:
  account-service  $(base_url account-service)   (API, /healthz, /readyz, /metrics)
  ledger-service   $(base_url ledger-service)   (ledger API, /healthz, /readyz, /metrics)
  outbox-relay     $(base_url outbox-relay)   (/healthz, /readyz, /metrics)
  NATS             nats://127.0.0.1:$NATS_PORT, monitoring http://127.0.0.1:$NATS_MONITOR_PORT
  MariaDB          wallet:wallet@tcp(127.0.0.1:$MARIADB_PORT)/  (shell: mariadb --no-defaults --socket=.run/mariadb/mysql.sock -uroot)
  logs             .run/logs/

Try:
  curl -s -XPOST localhost:8080/v1/accounts -H 'Content-Type: application/json' -d '{"account_id":"alice","owner_id":"u1","currency":"USD"}'

More requests in README.md. make stop ends everything (data in .run/ is kept).
EOF
