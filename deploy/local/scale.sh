#!/usr/bin/env bash
# Starts and stops the "nodes" of make bench-scale (bench -scale drives it;
# issue 19, item 6). A node is a MariaDB server holding a contiguous range
# of the logical shards (and its partitions' ledger schemas), a nats-server
# (the nodes form one JetStream cluster) and account-service, outbox-relay
# and ledger-service, every process of it in its own cgroup v1 cpu folder
# limited to SCALE_CPU cores. The load generator runs outside them.
#
#   scale.sh start   start SCALE_NODES nodes with SCALE_PARTITIONS partitions
#                    afresh (data in SCALE_DIR is wiped), write
#                    SCALE_DIR/stack.env for bench, wait for /readyz
#   scale.sh stop    stop every process start started, remove the cgroups
#
# Settings (environment):
#   SCALE_NODES (1), SCALE_PARTITIONS (4, divides LOGICAL_SHARDS), SCALE_CPU
#   (0.8 cores per node), SCALE_DIR (.run/scale), LOGICAL_SHARDS (256),
#   SCALE_PARTITIONED (1, ADR 0038's partitions; 0 for code from before them):
#   every node runs its own ledger-service, which applies only its
#   partitions (ledger.partitions; it reads every schema of
#   ledger.databases), its account-service consumes its partitions' saga
#   steps (account.saga_partitions) and "outbox-relay provision" declares
#   the streams. Either way node i's relay publishes only node i's server,
#   db<i+1> (relay.servers), so no node does another's work. With 0 (code
#   from before them) there is one WALLET stream and one ledger, on node 0.
#   SCALE_PIN (1): pin node i to CPU i (taskset) when
#   SCALE_CPU is at most 1, see pin_of.
# Ports, node i counted from 0 (apart from make run's and the tests'):
#   MariaDB 3360+i, NATS 4260+i (monitor 8260+i, routes 6260+i),
#   account-service 8270+i, ledger-service 8280+i, outbox-relay 8290+i.
#
# The MariaDB servers relax durability (no fsync per commit): here the
# nodes share one disk, where real nodes each have their own, and the
# question is CPU. Every service connects as wallet (the local admin): the
# grants are not what is measured.
set -euo pipefail

# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

SCALE_DIR=$(realpath -m "${SCALE_DIR:-$ROOT/.run/scale}")
RUN_DIR=$SCALE_DIR LOG_DIR=$SCALE_DIR/logs SECRETS=$SCALE_DIR/secrets.env
NODES=${SCALE_NODES:-1}
PARTITIONS=${SCALE_PARTITIONS:-4}
CPU=${SCALE_CPU:-0.8}
PARTITIONED=${SCALE_PARTITIONED:-1}
PIN=${SCALE_PIN:-1}
CGROOT=/sys/fs/cgroup/cpu/wallet-scale
MARIADB_BASE=3360 NATS_BASE=4260 MONITOR_BASE=8260 ROUTE_BASE=6260
ACCOUNT_BASE=8270 LEDGER_BASE=8280 RELAY_BASE=8290
SCALE_MARIADB_ARGS=${SCALE_MARIADB_ARGS:---innodb-flush-log-at-trx-commit=2 --sync-binlog=0}

# The names of the processes of node i, as their pid files are called.
procs_of() { echo "node$1-nats node$1-account-service node$1-outbox-relay node$1-ledger-service"; }

# scale_pid NAME prints the pid in SCALE_DIR/NAME.pid if that process is
# alive and runs one of bin/'s binaries (not a recycled pid).
scale_pid() {
	local pid
	pid=$(cat "$SCALE_DIR/$1.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
	case "$(ps -o args= -p "$pid" 2>/dev/null)" in "$BIN_DIR"/*) echo "$pid" ;; *) return 1 ;; esac
}

# stop_named GLOB sends SIGTERM to the processes of the pid files
# SCALE_DIR/GLOB.pid, waits up to 30 s, SIGKILLs the rest, removes the files.
stop_named() {
	local f name pid pids=()
	for f in "$SCALE_DIR"/$1.pid; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .pid)
		if pid=$(scale_pid "$name"); then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
		rm -f "$f"
	done
	for _ in $(seq 1 300); do
		local left=0
		for pid in "${pids[@]+"${pids[@]}"}"; do alive "$pid" && left=1; done
		[ "$left" -eq 0 ] && return 0
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

stop_all() {
	# Services first (they flush), then NATS, then MariaDB, as stop.sh does.
	stop_named 'node*-[aol]*-service'
	stop_named 'node*-outbox-relay'
	stop_named 'node*-nats'
	for dir in "$SCALE_DIR"/node*/mariadb; do
		[ -d "$dir" ] && "$ROOT/deploy/local/mariadb.sh" stop "$dir"
	done
	# A cgroup folder can go only once empty. mariadbd, orphaned by
	# mariadb.sh, stays in it as a zombie until init reaps it, which can
	# take seconds; whatever else is left (a process that outlived its
	# SIGKILL) is moved to the root.
	for cg in "$CGROOT"/node*; do
		[ -d "$cg" ] || continue
		for _ in $(seq 1 300); do
			while read -r pid; do echo "$pid" >/sys/fs/cgroup/cpu/cgroup.procs 2>/dev/null || true; done <"$cg/cgroup.procs"
			rmdir "$cg" 2>/dev/null && break
			sleep 0.1
		done
		[ ! -d "$cg" ] || { echo "scale.sh: $cg is still busy: $(cat "$cg/cgroup.procs" | tr '\n' ' ')" >&2; return 1; }
	done
	[ ! -d "$CGROOT" ] || rmdir "$CGROOT"
}

# pin_of I prints the command prefix that pins node I's processes to CPUs
# (taskset): with SCALE_PIN=1 and at most one core per node, node I runs
# on CPU I mod nproc, so a node is one slower CPU, as a real node's cores
# are its own, rather than bursts on every CPU of the machine cut off by
# the quota (which stalls whoever holds a lock). Nothing otherwise.
pin_of() {
	if [ "$PIN" = 1 ] && awk -v c="$CPU" 'BEGIN { exit !(c <= 1) }'; then
		echo "taskset -c $(($1 % $(nproc)))"
	fi
}

# in_node I CMD... runs CMD in node I's cgroup (and on its CPU): the shell
# joins it, then turns into CMD (same pid), so CMD and every child it
# starts are in it.
in_node() {
	local cg=$CGROOT/node$1 pin
	pin=$(pin_of "$1")
	shift
	# shellcheck disable=SC2086 # pin is a command prefix or nothing
	$pin bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

# start_in_node I NAME CMD... starts CMD detached (common.sh), in node I's
# cgroup (and on its CPU).
start_in_node() {
	local i=$1 name=$2 pin
	pin=$(pin_of "$i")
	shift 2
	# shellcheck disable=SC2086 # pin is a command prefix or nothing
	start_detached "node$i-$name" $pin bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CGROOT/node$i" "$@"
}

# range_of I N TOTAL prints node I's contiguous share "from..to" of TOTAL.
range_of() { echo "$(($1 * $3 / $2))..$((($1 + 1) * $3 / $2 - 1))"; }

dsn_of() { echo "wallet:wallet@tcp(127.0.0.1:$((MARIADB_BASE + $1)))/"; }

start() {
	[[ $NODES =~ ^[1-9]$ ]] || { echo "scale.sh: SCALE_NODES must be 1..9" >&2; exit 2; }
	((LOGICAL_SHARDS % PARTITIONS == 0 && PARTITIONS % NODES == 0)) ||
		{ echo "scale.sh: SCALE_PARTITIONS ($PARTITIONS) must divide LOGICAL_SHARDS ($LOGICAL_SHARDS) and be a multiple of SCALE_NODES ($NODES)" >&2; exit 2; }
	[ -w /sys/fs/cgroup/cpu ] || { echo "scale.sh: needs root and cgroup v1's cpu controller at /sys/fs/cgroup/cpu" >&2; exit 1; }
	stop_all
	rm -rf "$SCALE_DIR"
	mkdir -p "$SCALE_DIR" "$LOG_DIR" "$BIN_DIR"
	trap 'echo "scale.sh: start failed; stopping what it started" >&2; stop_all' ERR

	echo "building the services and nats-server"
	go build -o "$BIN_DIR/" ./account-service/cmd/account-service ./ledger-service/cmd/ledger-service \
		./outbox-relay/cmd/outbox-relay github.com/nats-io/nats-server/v2

	local quota i
	quota=$(awk -v c="$CPU" 'BEGIN { printf "%d", c * 100000 }')
	mkdir -p "$CGROOT"
	for ((i = 0; i < NODES; i++)); do
		mkdir -p "$CGROOT/node$i"
		echo 100000 >"$CGROOT/node$i/cpu.cfs_period_us"
		echo "$quota" >"$CGROOT/node$i/cpu.cfs_quota_us"
	done

	# --- layout: node i holds shards and partitions in contiguous ranges ---
	local shards=() servers=() ledgers=() admin_ledgers=() sh pr
	for ((i = 0; i < NODES; i++)); do
		sh=$(range_of "$i" "$NODES" "$LOGICAL_SHARDS") pr=$(range_of "$i" "$NODES" "$PARTITIONS")
		shards+=("$(dsn_of "$i")wallet_shard_{$sh}")
		servers+=("db$((i + 1))=$(dsn_of "$i")")
		if [ "$PARTITIONED" = 1 ]; then
			ledgers+=("$(dsn_of "$i")wallet_ledger_{$pr}")
		fi
	done
	[ "$PARTITIONED" = 1 ] || ledgers=("$(dsn_of 0)wallet_ledger")
	local shards_env servers_env ledgers_env
	shards_env=$(IFS=,; echo "${shards[*]}") servers_env=$(IFS=,; echo "${servers[*]}") ledgers_env=$(IFS=,; echo "${ledgers[*]}")

	# --- MariaDB ---
	for ((i = 0; i < NODES; i++)); do
		echo "node$i: MariaDB on 127.0.0.1:$((MARIADB_BASE + i))"
		MARIADB_ARGS="--table-open-cache=8192 --table-definition-cache=8192 $SCALE_MARIADB_ARGS" \
			in_node "$i" "$ROOT/deploy/local/mariadb.sh" start "$SCALE_DIR/node$i/mariadb" "$((MARIADB_BASE + i))"
		local create="" from to p
		sh=$(range_of "$i" "$NODES" "$LOGICAL_SHARDS") from=${sh%..*} to=${sh#*..}
		for ((s = from; s <= to; s++)); do
			create+="CREATE DATABASE \`wallet_shard_$s\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; "
		done
		if [ "$PARTITIONED" = 1 ]; then
			pr=$(range_of "$i" "$NODES" "$PARTITIONS")
			for ((p = ${pr%..*}; p <= ${pr#*..}; p++)); do
				create+="CREATE DATABASE \`wallet_ledger_$p\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; "
			done
		elif [ "$i" -eq 0 ]; then
			create+="CREATE DATABASE \`wallet_ledger\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; "
		fi
		mariadb --no-defaults --socket="$SCALE_DIR/node$i/mariadb/mysql.sock" -uroot -e "$create"
	done

	# --- NATS: one JetStream cluster, node i tagged node:i for placement ---
	load_secrets
	grep -q '^NATS_ADMIN_PASSWORD=' "$SECRETS" || echo "NATS_ADMIN_PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" >>"$SECRETS"
	# shellcheck disable=SC1090
	. "$SECRETS"
	local routes=()
	for ((i = 0; i < NODES; i++)); do routes+=("\"nats://127.0.0.1:$((ROUTE_BASE + i))\""); done
	for ((i = 0; i < NODES; i++)); do
		local conf=$SCALE_DIR/node$i/nats.conf
		mkdir -p "$SCALE_DIR/node$i/nats"
		# The services' users (deploy/nats-auth.conf), and wallet_scale, the
		# harness's own, which may do anything (place streams, read consumers).
		sed 's/^\(  *\)users = \[/&\n\1  { user: wallet_scale, password: $WALLET_NATS_ADMIN_PASSWORD }/' deploy/nats-auth.conf >"$SCALE_DIR/node$i/nats-auth.conf"
		{
			echo 'include "nats-auth.conf"'
			echo "server_name: wallet-scale-$i"
			echo "server_tags: [\"node:$i\"]"
			echo "listen: 127.0.0.1:$((NATS_BASE + i))"
			echo "http: 127.0.0.1:$((MONITOR_BASE + i))"
			echo "jetstream { store_dir: \"$SCALE_DIR/node$i/nats\" }"
			if [ "$NODES" -gt 1 ]; then
				echo "cluster { name: wallet-scale, listen: 127.0.0.1:$((ROUTE_BASE + i)), routes: [$(IFS=,; echo "${routes[*]}")] }"
			fi
		} >"$conf"
		echo "node$i: nats-server on 127.0.0.1:$((NATS_BASE + i))"
		start_in_node "$i" nats env WALLET_NATS_RELAY_PASSWORD="$NATS_RELAY_PASSWORD" \
			WALLET_NATS_ACCOUNT_PASSWORD="$NATS_ACCOUNT_PASSWORD" WALLET_NATS_LEDGER_PASSWORD="$NATS_LEDGER_PASSWORD" \
			WALLET_NATS_ADMIN_PASSWORD="$NATS_ADMIN_PASSWORD" "$BIN_DIR/nats-server" -c "$conf"
	done
	for ((i = 0; i < NODES; i++)); do
		wait_url "node$i-nats" "http://127.0.0.1:$((MONITOR_BASE + i))/healthz"
	done

	# --- schemas, streams, services ---
	export WALLET_SHARDS=$shards_env WALLET_SERVERS=$servers_env WALLET_NATS_PARTITIONS=$PARTITIONS
	export WALLET_NATS_REPLICAS=1 WALLET_LOG_LEVEL=warn
	if [ "$PARTITIONED" = 1 ]; then export WALLET_LEDGER_DATABASES=$ledgers_env; else export WALLET_LEDGER_DSN=$ledgers_env; fi
	WALLET_AUTH_JWT_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
	export WALLET_AUTH_JWT_SECRET
	(umask 077 && echo "$WALLET_AUTH_JWT_SECRET" >"$SCALE_DIR/jwt-secret")
	echo "migrating $LOGICAL_SHARDS shard schemas and the ledger's"
	"$BIN_DIR/account-service" migrate >/dev/null
	"$BIN_DIR/ledger-service" migrate >/dev/null
	if [ "$PARTITIONED" = 1 ]; then
		# One owner for the streams' settings (ADR 0038): the relay's
		# provision command, as the NATS admin user, before the services.
		WALLET_NATS_URL="nats://wallet_admin:$NATS_ADMIN_PASSWORD@127.0.0.1:$NATS_BASE" "$BIN_DIR/outbox-relay" provision
	fi
	for ((i = 0; i < NODES; i++)); do
		local nats="@127.0.0.1:$((NATS_BASE + i))" pr p saga=() account_env=() ledger_env=()
		pr=$(range_of "$i" "$NODES" "$PARTITIONS")
		for ((p = ${pr%..*}; p <= ${pr#*..}; p++)); do saga+=("$p"); done
		if [ "$PARTITIONED" = 1 ]; then
			account_env+=("WALLET_ACCOUNT_SAGA_PARTITIONS=$(IFS=,; echo "${saga[*]}")")
			ledger_env+=("WALLET_LEDGER_PARTITIONS=$(IFS=,; echo "${saga[*]}")")
		fi
		echo "node$i: services (partitions ${pr})"
		start_in_node "$i" account-service env WALLET_ACCOUNT_ADDR="127.0.0.1:$((ACCOUNT_BASE + i))" \
			WALLET_NATS_URL="nats://wallet_account:$NATS_ACCOUNT_PASSWORD$nats" "${account_env[@]+"${account_env[@]}"}" \
			"$BIN_DIR/account-service"
		# Node i's server is db<i+1> (servers above); code from before
		# relay.servers ignores the variable.
		start_in_node "$i" outbox-relay env WALLET_RELAY_ADDR="127.0.0.1:$((RELAY_BASE + i))" \
			WALLET_RELAY_SERVERS="db$((i + 1))" WALLET_NATS_URL="nats://wallet_relay:$NATS_RELAY_PASSWORD$nats" "$BIN_DIR/outbox-relay"
		# Today's main has one ledger for the one WALLET stream: node 0's.
		if [ "$PARTITIONED" = 1 ] || [ "$i" -eq 0 ]; then
			start_in_node "$i" ledger-service env WALLET_LEDGER_ADDR="127.0.0.1:$((LEDGER_BASE + i))" \
				WALLET_NATS_URL="nats://wallet_ledger:$NATS_LEDGER_PASSWORD$nats" "${ledger_env[@]+"${ledger_env[@]}"}" \
				"$BIN_DIR/ledger-service"
		fi
	done
	for ((i = 0; i < NODES; i++)); do
		wait_url "node$i-account-service" "http://127.0.0.1:$((ACCOUNT_BASE + i))/readyz"
		wait_url "node$i-outbox-relay" "http://127.0.0.1:$((RELAY_BASE + i))/readyz"
		[ ! -e "$SCALE_DIR/node$i-ledger-service.pid" ] || wait_url "node$i-ledger-service" "http://127.0.0.1:$((LEDGER_BASE + i))/readyz"
	done
	trap - ERR

	# --- what bench -scale reads: KEY=VALUE lines ---
	{
		echo "nodes=$NODES"
		echo "partitions=$PARTITIONS"
		echo "shards=$LOGICAL_SHARDS"
		echo "cpu=$CPU"
		echo "pin=$PIN"
		echo "partitioned=$PARTITIONED"
		echo "servers=$servers_env"
		echo "ledgers=$ledgers_env"
		echo "nats=nats://wallet_scale:$NATS_ADMIN_PASSWORD@127.0.0.1:$NATS_BASE"
		echo "jwt_secret_file=$SCALE_DIR/jwt-secret"
		for ((i = 0; i < NODES; i++)); do
			echo "node$i.account_url=http://127.0.0.1:$((ACCOUNT_BASE + i))"
			echo "node$i.shards=$(range_of "$i" "$NODES" "$LOGICAL_SHARDS")"
			echo "node$i.partitions=$(range_of "$i" "$NODES" "$PARTITIONS")"
			echo "node$i.cgroup=$CGROOT/node$i"
			echo "node$i.pid.mariadbd=$(cat "$SCALE_DIR/node$i/mariadb/mariadbd.pid")"
			for n in $(procs_of "$i"); do
				[ -e "$SCALE_DIR/$n.pid" ] && echo "node$i.pid.${n#node"$i"-}=$(cat "$SCALE_DIR/$n.pid")"
			done
		done
	} >"$SCALE_DIR/stack.env"
	echo "scale: $NODES node(s) up, $PARTITIONS partitions, ${CPU} cores each; layout in $SCALE_DIR/stack.env"
}

# wait_url NAME URL waits up to 120 s for URL to answer 200 while NAME runs.
wait_url() {
	local deadline=$((SECONDS + 120)) code
	while :; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$2" 2>/dev/null) || true
		[ "$code" = 200 ] && return 0
		if ! scale_pid "$1" >/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			echo "scale.sh: $1 not ready ($2 answered ${code:-nothing}); last lines of $LOG_DIR/$1.log:" >&2
			tail -n 30 "$LOG_DIR/$1.log" >&2 || true
			return 1
		fi
		sleep 0.2
	done
}

case "${1:-}" in
start) start ;;
stop) stop_all ;;
*) echo "usage: $0 start | stop   (settings: see the head of this file)" >&2; exit 2 ;;
esac
