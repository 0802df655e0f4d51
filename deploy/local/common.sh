# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Shared by run.sh and stop.sh (sourced, not executed): the layout of the
# local stack under .run/ and the pid-file helpers.

# The directory and ports can be overridden from the environment (a second
# stack beside the default one, e.g. to try a change to these scripts);
# NATS_CLUSTER=3 runs a three-node JetStream cluster instead of one server;
# DB_SERVERS=2 runs a second MariaDB server (see db_servers).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/.run}
LOG_DIR=$RUN_DIR/logs
BIN_DIR=$ROOT/bin
MARIADB_DIR=$RUN_DIR/mariadb
MARIADB_PORT=${MARIADB_PORT:-3307} # server i of DB_SERVERS: MARIADB_PORT+2(i-1)
NATS_DIR=$RUN_DIR/nats
NATS_PORT=${NATS_PORT:-4222}                 # node i of a cluster: NATS_PORT+i
NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-8222} # node i: NATS_MONITOR_PORT+i
NATS_ROUTE_PORT=${NATS_ROUTE_PORT:-6222}     # node i: NATS_ROUTE_PORT+i (cluster routes)
NATS_CLUSTER=${NATS_CLUSTER:-1}
SERVICES=(account-service ledger-service outbox-relay)
# The logical shards, schemas wallet_shard_0 … (docs/adr/0036). Fixed once a
# stack has data: a stack made with fewer is upgraded with make upgrade.
LOGICAL_SHARDS=${LOGICAL_SHARDS:-256}
# The event partitions (nats.partitions, ADR 0038): a stream WALLET_<p> and
# a ledger schema wallet_ledger_<p> each, on db1.
PARTITIONS=${WALLET_NATS_PARTITIONS:-4}

export PATH="/usr/local/go/bin:$PATH"

# db_servers prints how many MariaDB servers the stack has: DB_SERVERS if
# set (1..4), else as many as have a data directory (at least 1). Server i
# is named dbi; db1 keeps its data in .run/mariadb, dbi in .run/mariadb-i,
# and listens on MARIADB_PORT+2(i-1): 3307, 3309, 3311, 3313 (3308 and
# 3310 are the tests'). Fewer servers than have data is refused: logical
# shards may live on the others.
db_servers() {
	local n=1 i
	for ((i = 2; i <= 4; i++)); do
		[ -d "$(db_dir "$i")/data/mysql" ] && n=$i
	done
	if [ -n "${DB_SERVERS:-}" ]; then
		if ! [[ $DB_SERVERS =~ ^[1-4]$ ]]; then
			echo "DB_SERVERS must be 1..4, not $DB_SERVERS" >&2
			return 1
		fi
		if [ "$DB_SERVERS" -lt "$n" ]; then
			echo "DB_SERVERS=$DB_SERVERS, but $(db_dir "$n") holds server db$n's data (shards may live there); make clean to start over" >&2
			return 1
		fi
		n=$DB_SERVERS
	fi
	echo "$n"
}

db_dir() { if [ "$1" -eq 1 ]; then echo "$MARIADB_DIR"; else echo "$RUN_DIR/mariadb-$1"; fi; }
db_port() { echo $((MARIADB_PORT + 2 * ($1 - 1))); }

# servers_env USER PASSWORD N prints the WALLET_SERVERS value for N
# servers as USER: comma-separated name=DSN, DSNs without a schema.
servers_env() {
	local out=() i
	for ((i = 1; i <= $3; i++)); do
		out+=("db$i=$1:$2@tcp(127.0.0.1:$(db_port "$i"))/")
	done
	(IFS=,; echo "${out[*]}")
}

# nats_nodes prints the pid-file name of every nats-server of this stack:
# "nats" for the single server, nats-0 … for a cluster's nodes (their store
# is .run/nats-i, so each command line names its node).
nats_nodes() {
	if [ "$NATS_CLUSTER" -le 1 ]; then
		echo nats
	else
		seq -f 'nats-%g' 0 $((NATS_CLUSTER - 1))
	fi
}

# alive PID succeeds while PID runs (a zombie waiting to be reaped does not count).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	case "$(ps -o stat= -p "$1" 2>/dev/null)" in
	Z* | "") return 1 ;;
	esac
}

# pid_of NAME prints the pid recorded in .run/NAME.pid if that process is
# alive and is still NAME (a recycled pid is not ours); fails otherwise.
pid_of() {
	local name=$1 file=$RUN_DIR/$1.pid pid
	[ -f "$file" ] || return 1
	pid=$(cat "$file" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	case "$(ps -o args= -p "$pid" 2>/dev/null)" in
	*"$name"*) echo "$pid" ;;
	*) return 1 ;;
	esac
}

# start_detached NAME CMD ARGS... runs CMD in its own session (it survives the
# shell and make that started it, and ^C in that terminal), with stdin from
# /dev/null, output appended to .run/logs/NAME.log and its pid in .run/NAME.pid.
start_detached() {
	local name=$1 pidfile=$RUN_DIR/$1.pid
	shift
	rm -f "$pidfile"
	# The inner shell records its own pid, then exec turns into CMD, so the pid
	# file names CMD whether or not setsid had to fork.
	# shellcheck disable=SC2016 # $$ and $@ expand in the inner shell
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
		</dev/null >>"$LOG_DIR/$name.log" 2>&1 &
	for _ in $(seq 1 50); do
		[ -s "$pidfile" ] && return 0
		sleep 0.1
	done
	echo "could not start $name; see $LOG_DIR/$name.log" >&2
	return 1
}

# stop_pids NAME... sends SIGTERM to each running NAME, waits up to 30 s for
# all of them to exit, then SIGKILLs the rest; removes their pid files.
stop_pids() {
	local name pid pids=() names=()
	for name in "$@"; do
		if pid=$(pid_of "$name"); then
			echo "stopping $name (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
			names+=("$name")
		fi
	done
	local i left
	for _ in $(seq 1 300); do
		left=0
		for pid in "${pids[@]}"; do
			alive "$pid" && left=1
		done
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	for i in "${!pids[@]}"; do
		if alive "${pids[$i]}"; then
			echo "${names[$i]} (pid ${pids[$i]}) did not exit after 30 s; killing it" >&2
			kill -KILL "${pids[$i]}" 2>/dev/null || true
			for _ in $(seq 1 50); do
				alive "${pids[$i]}" || break
				sleep 0.1
			done
		fi
	done
	for name in "$@"; do
		rm -f "$RUN_DIR/$name.pid"
	done
}

# The local stack's passwords: generated on the first run, kept in
# .run/secrets.env (mode 600, local only; delete it and make stop && make run
# to get new ones; a password the file lacks is added). MYSQL_*: the
# services' MySQL users (deploy/grants.sql) and the shard mover's and its
# replication's (deploy/grants-move.sql); NATS_*: the services' NATS users
# and wallet_admin, outbox-relay provision's (deploy/nats-auth.conf).
SECRETS=$RUN_DIR/secrets.env

load_secrets() {
	mkdir -p "$RUN_DIR"
	(
		umask 077
		touch "$SECRETS"
		for k in MYSQL_ACCOUNT MYSQL_RELAY MYSQL_LEDGER MYSQL_REPL MYSQL_MOVER NATS_ACCOUNT NATS_RELAY NATS_LEDGER NATS_ADMIN; do
			grep -q "^${k}_PASSWORD=" "$SECRETS" ||
				echo "${k}_PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" >>"$SECRETS"
		done
	)
	# shellcheck disable=SC1090
	. "$SECRETS"
}

# nats_url USER prints the URLs of this stack's nats-server(s) with USER's
# credentials (wallet_account, wallet_relay, wallet_ledger or wallet_admin);
# load_secrets first.
nats_url() {
	local user=$1 pass i n=1 urls=()
	case "$user" in
	wallet_account) pass=$NATS_ACCOUNT_PASSWORD ;;
	wallet_relay) pass=$NATS_RELAY_PASSWORD ;;
	wallet_ledger) pass=$NATS_LEDGER_PASSWORD ;;
	wallet_admin) pass=$NATS_ADMIN_PASSWORD ;;
	*) echo "nats_url: unknown user $user" >&2; return 1 ;;
	esac
	[ "$NATS_CLUSTER" -gt 1 ] && n=$NATS_CLUSTER
	for ((i = 0; i < n; i++)); do
		urls+=("nats://$user:$pass@127.0.0.1:$((NATS_PORT + i))")
	done
	(IFS=,; echo "${urls[*]}")
}

# shard_dsns USER PASSWORD N prints the shard DSNs as USER for N servers:
# the logical shards in contiguous ranges, one range per server
# ("…/wallet_shard_{0..127},…/wallet_shard_{128..255}"). It is the layout
# of a new stack; once stored, the placement decides (shards move).
shard_dsns() {
	local out=() i from to n=$3
	for ((i = 0; i < n; i++)); do
		from=$((i * LOGICAL_SHARDS / n)) to=$(((i + 1) * LOGICAL_SHARDS / n - 1))
		[ "$to" -ge "$from" ] || continue
		out+=("$1:$2@tcp(127.0.0.1:$(db_port $((i + 1))))/wallet_shard_{$from..$to}")
	done
	(IFS=,; echo "${out[*]}")
}

# ledger_dsns USER PASSWORD prints ledger.databases for the stack: the
# partitions' schemas wallet_ledger_0 … on db1, as one range.
ledger_dsns() { echo "$1:$2@tcp(127.0.0.1:$MARIADB_PORT)/wallet_ledger_{0..$((PARTITIONS - 1))}"; }

# shard_server N prints the server (1-based) that shard_dsns places
# logical shard N on for SERVERS servers.
shard_server() { echo $(($1 * $2 / LOGICAL_SHARDS + 1)); }
