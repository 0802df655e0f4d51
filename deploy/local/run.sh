#!/usr/bin/env bash
# Runs the whole wallet on this machine, without Docker (make run):
#   - builds account-service, ledger-service, outbox-relay and nats-server into bin/
#   - a private MariaDB on 127.0.0.1:3307 with its data in .run/mariadb
#   - the schemas wallet_shard_0..3 and wallet_ledger
#   - nats-server with JetStream on 127.0.0.1:4222 (monitor :8222), data in .run/nats;
#     with NATS_CLUSTER=3 three nodes routed as cluster "wallet-local" on
#     :4222-4224 (monitor :8222-8224, routes :6222-6224), data in .run/nats-0..2,
#     and the services get all three URLs and nats.replicas=3
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
[[ $NATS_CLUSTER =~ ^[1-9]$ ]] || { echo "run.sh: NATS_CLUSTER must be 1..9, not $NATS_CLUSTER" >&2; exit 1; }
mkdir -p "$BIN_DIR" "$LOG_DIR"

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
echo "MariaDB on 127.0.0.1:$MARIADB_PORT (data in $MARIADB_DIR)"
"$ROOT/deploy/local/mariadb.sh" start "$MARIADB_DIR" "$MARIADB_PORT"
sql=""
for schema in "${SCHEMAS[@]}"; do
	sql+="CREATE DATABASE IF NOT EXISTS \`$schema\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; "
done
mariadb --no-defaults --socket="$MARIADB_DIR/mysql.sock" -uroot -e "$sql"

# --- NATS --------------------------------------------------------------------
# A cluster that was started with another size keeps its store: mixing the
# two would leave the stream on servers that are not running.
other=""
if [ "$NATS_CLUSTER" -le 1 ]; then
	for f in "$RUN_DIR"/nats-*.pid; do
		[ -e "$f" ] && pid_of "$(basename "$f" .pid)" >/dev/null && other="a NATS cluster"
	done
else
	pid_of nats >/dev/null && other="a single nats-server"
fi
if [ -n "$other" ]; then
	echo "run.sh: $other of this stack is running; make stop first" >&2
	exit 1
fi
mapfile -t nats_names < <(nats_nodes)
urls=()
routes=()
for i in "${!nats_names[@]}"; do
	urls+=("nats://127.0.0.1:$((NATS_PORT + i))")
	routes+=("nats://127.0.0.1:$((NATS_ROUTE_PORT + i))")
done
for i in "${!nats_names[@]}"; do
	name=${nats_names[$i]}
	if pid=$(pid_of "$name"); then
		echo "$name already running (pid $pid)"
		continue
	fi
	if [ "$NATS_CLUSTER" -le 1 ]; then
		dir=$NATS_DIR
		args=(--server_name wallet-local)
	else
		dir=$RUN_DIR/$name
		others=()
		for j in "${!routes[@]}"; do
			[ "$j" -eq "$i" ] || others+=("${routes[$j]}")
		done
		args=(--server_name "wallet-local-$i" --cluster_name wallet-local
			--cluster "nats://127.0.0.1:$((NATS_ROUTE_PORT + i))" --routes "$(IFS=,; echo "${others[*]}")")
	fi
	mkdir -p "$dir"
	echo "starting $name on 127.0.0.1:$((NATS_PORT + i))"
	start_detached "$name" "$BIN_DIR/nats-server" -a 127.0.0.1 -p "$((NATS_PORT + i))" \
		-m "$((NATS_MONITOR_PORT + i))" -js -sd "$dir" "${args[@]}"
done
# /healthz answers 200 once JetStream is up (in a cluster: once the node
# found the meta leader; after a SIGKILL, once it recovered its store); the
# services retry declaring the stream anyway. pid_of ignores a stale pid
# file (a dead, zombie or recycled pid).
for i in "${!nats_names[@]}"; do
	name=${nats_names[$i]}
	nats_ok=""
	nats_deadline=$((SECONDS + ${NATS_START_TIMEOUT:-120}))
	while [ "$SECONDS" -lt "$nats_deadline" ]; do
		if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$((NATS_MONITOR_PORT + i))/healthz" 2>/dev/null; then
			nats_ok=1
			break
		fi
		pid_of "$name" >/dev/null || break
		sleep 0.1
	done
	if [ -z "$nats_ok" ]; then
		echo "run.sh: $name is not healthy; last lines of $LOG_DIR/$name.log:" >&2
		tail -n 30 "$LOG_DIR/$name.log" >&2 || true
		exit 1
	fi
done
if [ "$NATS_CLUSTER" -gt 1 ]; then
	export WALLET_NATS_URL=${WALLET_NATS_URL:-$(IFS=,; echo "${urls[*]}")}
	export WALLET_NATS_REPLICAS=${WALLET_NATS_REPLICAS:-$NATS_CLUSTER}
elif [ "$NATS_PORT" != 4222 ]; then
	export WALLET_NATS_URL=${WALLET_NATS_URL:-${urls[0]}}
fi
# A moved MariaDB: the services' default DSNs name :3307.
if [ "$MARIADB_PORT" != 3307 ]; then
	dsn="wallet:wallet@tcp(127.0.0.1:$MARIADB_PORT)/"
	export WALLET_SHARDS=${WALLET_SHARDS:-${dsn}wallet_shard_0,${dsn}wallet_shard_1,${dsn}wallet_shard_2,${dsn}wallet_shard_3}
	export WALLET_LEDGER_DSN=${WALLET_LEDGER_DSN:-${dsn}wallet_ledger}
fi

# --- authentication ----------------------------------------------------------
# The local stack verifies HS256 tokens with a secret of its own, made once
# and kept in .run/jwt-secret (mode 600) so tokens printed earlier still work.
# WALLET_AUTH_JWT_SECRET set by the caller wins.
if [ -z "${WALLET_AUTH_JWT_SECRET:-}" ]; then
	if [ ! -s .run/jwt-secret ]; then
		(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >.run/jwt-secret)
		echo "generated a JWT secret for the local stack in .run/jwt-secret"
	fi
	WALLET_AUTH_JWT_SECRET=$(cat .run/jwt-secret)
	export WALLET_AUTH_JWT_SECRET
fi

# --- services ----------------------------------------------------------------
# The local stack listens on loopback only (the services' built-in default,
# :8080 etc., is every interface): WALLET_*_ADDR=:8080 opens one on purpose.
export WALLET_ACCOUNT_ADDR=${WALLET_ACCOUNT_ADDR:-127.0.0.1:8080}
export WALLET_LEDGER_ADDR=${WALLET_LEDGER_ADDR:-127.0.0.1:8081}
export WALLET_RELAY_ADDR=${WALLET_RELAY_ADDR:-127.0.0.1:8082}

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

OPERATOR_TOKEN=$("$BIN_DIR/account-service" token --role operator --sub ops --ttl 24h)
CUSTOMER_TOKEN=$("$BIN_DIR/account-service" token --role customer --sub u-alice --ttl 24h)

cat <<EOF

The wallet is running:
  account-service  $(base_url account-service)   (API, /healthz, /readyz, /metrics)
  ledger-service   $(base_url ledger-service)   (ledger API, /healthz, /readyz, /metrics)
  outbox-relay     $(base_url outbox-relay)   (/healthz, /readyz, /metrics)
  NATS             ${WALLET_NATS_URL:-nats://127.0.0.1:$NATS_PORT}, monitoring http://127.0.0.1:$NATS_MONITOR_PORT
  MariaDB          wallet:wallet@tcp(127.0.0.1:$MARIADB_PORT)/  (shell: mariadb --no-defaults --socket=.run/mariadb/mysql.sock -uroot)
  logs             .run/logs/

Tokens, valid 24 h (make new ones: bin/account-service token --role customer --sub u-bob):
  export OPERATOR_TOKEN=$OPERATOR_TOKEN
  export CUSTOMER_TOKEN=$CUSTOMER_TOKEN   # owner u-alice

Try:
  curl -s -XPOST localhost:8080/v1/accounts -H "Authorization: Bearer \$OPERATOR_TOKEN" -H 'Content-Type: application/json' -d '{"account_id":"alice","owner_id":"u-alice","currency":"USD"}'

More requests in README.md. make stop ends everything (data in .run/ is kept).
EOF
