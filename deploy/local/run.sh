#!/usr/bin/env bash
# Runs the whole wallet on this machine, without Docker (make run):
#   - builds account-service, ledger-service, outbox-relay and nats-server into bin/
#   - a private MariaDB on 127.0.0.1:3307 with its data in .run/mariadb
#     (server db1); with DB_SERVERS=2 a second one, db2, on 127.0.0.1:3309
#     with its data in .run/mariadb-2, the same users and the same grants
#     for moving shards (deploy/grants-move.sql); the services get
#     WALLET_SERVERS, every server as name=DSN
#   - the schemas wallet_shard_0..255 and wallet_ledger_0..3, one per event
#     partition (on db1; WALLET_NATS_PARTITIONS changes the count)
#   - nats-server with JetStream on 127.0.0.1:4222 (monitor :8222), data in .run/nats;
#     with NATS_CLUSTER=3 three nodes routed as cluster "wallet-local" on
#     :4222-4224 (monitor :8222-8224, routes :6222-6224), data in .run/nats-0..2,
#     and the services get all three URLs and nats.replicas=3
#   - outbox-relay provision as wallet_admin: every stream and bucket, from
#     the same configuration the services get (they only verify them)
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
db_count=$(db_servers) || exit 1
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
# Each server has the binary log on and its port as server_id, so that a
# logical shard's schema can be copied between them (docs/adr/0033).
for ((i = 1; i <= db_count; i++)); do
	echo "MariaDB db$i on 127.0.0.1:$(db_port "$i") (data in $(db_dir "$i"))"
	# Every logical shard's tables stay open (ADR 0036): the default
	# definition cache of 400 thrashes at 256 shards.
	MARIADB_ARGS="--table-open-cache=8192 --table-definition-cache=8192 ${MARIADB_ARGS:-}" \
		"$ROOT/deploy/local/mariadb.sh" start "$(db_dir "$i")" "$(db_port "$i")"
done
# A logical shard's schema is made on the server shard_dsns places it on,
# unless a server has it already: a shard that moved lives elsewhere, and
# an empty copy would only confuse (account-service migrate finds each
# shard's live copy). A stack made with fewer logical shards is upgraded
# by make upgrade first (docs/operations.md).
existing=" "
for ((i = 1; i <= db_count; i++)); do
	existing+=$(mariadb --no-defaults --socket="$(db_dir "$i")/mysql.sock" -uroot -N -e "SHOW DATABASES LIKE 'wallet\_shard\_%'" | tr '\n' ' ')
done
last=wallet_shard_$((LOGICAL_SHARDS - 1))
upgrade_from=""
if [[ $existing == *" wallet_shard_0 "* && $existing != *" $last "* ]]; then
	if [ -z "${UPGRADING:-}" ]; then
		echo "this stack has fewer than $LOGICAL_SHARDS logical shards: make stop && make upgrade (docs/operations.md)" >&2
		exit 1
	fi
	upgrade_from=0
	while [[ $existing == *" wallet_shard_$upgrade_from "* ]]; do upgrade_from=$((upgrade_from + 1)); done
fi
declare -a create
for ((sh = 0; sh < LOGICAL_SHARDS; sh++)); do
	[ -z "$upgrade_from" ] || break # the split makes them, each beside its old shard
	[[ $existing == *" wallet_shard_$sh "* ]] ||
		create[$(shard_server "$sh" "$db_count")]+="CREATE DATABASE IF NOT EXISTS \`wallet_shard_$sh\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; "
done
for ((p = 0; p < PARTITIONS; p++)); do
	create[1]+="CREATE DATABASE IF NOT EXISTS \`wallet_ledger_$p\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; "
done
for ((i = 1; i <= db_count; i++)); do
	[ -z "${create[$i]:-}" ] || mariadb --no-defaults --socket="$(db_dir "$i")/mysql.sock" -uroot -e "${create[$i]}"
done

load_secrets

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
routes=()
for i in "${!nats_names[@]}"; do
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
	# Each service has its own NATS user, and provisioning wallet_admin
	# (deploy/nats-auth.conf reads the passwords from the environment).
	start_detached "$name" env WALLET_NATS_RELAY_PASSWORD="$NATS_RELAY_PASSWORD" \
		WALLET_NATS_ACCOUNT_PASSWORD="$NATS_ACCOUNT_PASSWORD" WALLET_NATS_LEDGER_PASSWORD="$NATS_LEDGER_PASSWORD" \
		WALLET_NATS_ADMIN_PASSWORD="$NATS_ADMIN_PASSWORD" \
		"$BIN_DIR/nats-server" -c "$ROOT/deploy/nats-auth.conf" -a 127.0.0.1 -p "$((NATS_PORT + i))" \
		-m "$((NATS_MONITOR_PORT + i))" -js -sd "$dir" "${args[@]}"
done
# /healthz answers 200 once JetStream is up (in a cluster: once the node
# found the meta leader; after a SIGKILL, once it recovered its store);
# provisioning retries anyway while a cluster forms. pid_of ignores a stale pid
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
	export WALLET_NATS_REPLICAS=${WALLET_NATS_REPLICAS:-$NATS_CLUSTER}
fi

# --- streams and buckets -------------------------------------------------------
# One owner for the stream settings (ADR 0040): outbox-relay provision, as
# wallet_admin, creates or updates every stream and bucket from the
# configuration the services get (WALLET_NATS_* set here or by the caller);
# the services verify them and refuse to start on a mismatch. A change it
# cannot apply (nats.storage, fewer partitions) fails here, naming it.
echo "provisioning the streams and buckets (outbox-relay provision, as wallet_admin)"
if ! WALLET_NATS_URL=$(nats_url wallet_admin) WALLET_SHARDS=${WALLET_SHARDS:-$(shard_dsns wallet wallet "$db_count")} \
	"$BIN_DIR/outbox-relay" provision >"$LOG_DIR/provision.log" 2>&1; then
	echo "run.sh: outbox-relay provision failed (a nats-server started before wallet_admin existed: make stop && make run):" >&2
	tail -n 20 "$LOG_DIR/provision.log" >&2
	exit 1
fi
# service_env SVC prints the NAME=value settings SVC runs with: its own MySQL
# and NATS users. WALLET_SHARDS, WALLET_SERVERS, WALLET_LEDGER_DATABASES or
# WALLET_NATS_URL set in the environment are used as they are, by every
# service.
service_env() {
	local user mysql_pw nats_pw
	case "$1" in
	account-service) user=wallet_account mysql_pw=$MYSQL_ACCOUNT_PASSWORD ;;
	ledger-service) user=wallet_ledger mysql_pw=$MYSQL_LEDGER_PASSWORD ;;
	outbox-relay) user=wallet_relay mysql_pw=$MYSQL_RELAY_PASSWORD ;;
	esac
	echo "WALLET_SHARDS=${WALLET_SHARDS:-$(shard_dsns "$user" "$mysql_pw" "$db_count")}"
	echo "WALLET_SERVERS=${WALLET_SERVERS:-$(servers_env "$user" "$mysql_pw" "$db_count")}"
	echo "WALLET_NATS_URL=${WALLET_NATS_URL:-$(nats_url "$user")}"
	if [ "$1" = ledger-service ]; then
		echo "WALLET_LEDGER_DATABASES=${WALLET_LEDGER_DATABASES:-$(ledger_dsns "$user" "$mysql_pw")}"
	fi
}

# --- migrations and the MySQL users ---------------------------------------------
# The migrate step runs as wallet (the local admin user, ALL); the services
# then connect as their own users, which may not change the schema
# (deploy/grants.sql, generated by pkg/database.GrantStatements; MySQL
# grants on a table only once it exists, so the grants come after). Every
# server gets the services' users, and the logins that move shards
# (deploy/grants-move.sql); the schemas' grants go where the schemas are.
# ledger_grants copies grant statements, those of the ledger schemas for
# the stack's partitions (deploy/grants.sql has wallet_ledger_0..3).
ledger_grants() {
	grep -v '`wallet_ledger_' || true
	for ((p = 0; p < PARTITIONS; p++)); do
		echo "GRANT SELECT, INSERT, UPDATE, DELETE ON \`wallet_ledger_$p\`.* TO 'wallet_ledger'@'%';"
	done
}
# make upgrade: a stack made with fewer logical shards is split into
# LOGICAL_SHARDS (account-service shards split, docs/operations.md). Its
# schemas first get the release's migrations, as its old count declares
# them; the split needs NATS, where the placement map is.
if [ -n "$upgrade_from" ]; then
	echo "migrating the $upgrade_from existing shard schemas (as wallet)"
	WALLET_SHARDS="wallet:wallet@tcp(127.0.0.1:$MARIADB_PORT)/wallet_shard_{0..$((upgrade_from - 1))}" \
		WALLET_SERVERS=$(servers_env wallet wallet "$db_count") "$BIN_DIR/account-service" migrate
	echo "splitting $upgrade_from logical shards into $LOGICAL_SHARDS"
	"$ROOT/deploy/local/cmd.sh" account-service shards split
fi
echo "migrating the shard and ledger schemas (as wallet)"
WALLET_SHARDS=$(shard_dsns wallet wallet "$db_count") WALLET_SERVERS=$(servers_env wallet wallet "$db_count") "$BIN_DIR/account-service" migrate
WALLET_LEDGER_DATABASES=$(ledger_dsns wallet wallet) "$BIN_DIR/ledger-service" migrate
for ((i = 1; i <= db_count; i++)); do
	{
		# One server: the shards' grants table by table (deploy/grants.sql).
		# Several: a shard moved to a server brings its tables, which
		# MariaDB grants on only once they exist, so the local stack gives
		# the services their rights schema-wide on every server (production
		# applies deploy/grants.sql to a moved shard before the switch).
		if [ "$db_count" -eq 1 ]; then
			# deploy/grants.sql grants on 256 shards; a stack with fewer
			# (LOGICAL_SHARDS) gets those of its own.
			# The same for the partitions' ledger schemas (4 in the file).
			awk -v n="$LOGICAL_SHARDS" 'match($0, /`wallet_shard_[0-9]+`/) {
				if (substr($0, RSTART + 14, RLENGTH - 15) + 0 >= n) next } { print }' deploy/grants.sql | ledger_grants
		elif [ "$i" -eq 1 ]; then
			grep -v '`wallet_shard_' deploy/grants.sql | ledger_grants
		else
			grep -E '^(CREATE|ALTER) USER ' deploy/grants.sql
		fi
		cat deploy/grants-move.sql
		if [ "$db_count" -gt 1 ]; then
			echo "GRANT SELECT, INSERT, UPDATE, DELETE ON \`wallet\\_shard\\_%\`.* TO 'wallet_account'@'%';"
			echo "GRANT SELECT, UPDATE, DELETE ON \`wallet\\_shard\\_%\`.* TO 'wallet_relay'@'%';"
			echo "GRANT SELECT, UPDATE ON \`wallet\\_shard\\_%\`.* TO 'wallet_ledger'@'%';"
			echo "GRANT UPDATE ON \`wallet\\_shard\\_%\`.* TO 'wallet_mover'@'%';"
		fi
	} | sed -e "s/@ACCOUNT_PASSWORD@/$MYSQL_ACCOUNT_PASSWORD/" -e "s/@RELAY_PASSWORD@/$MYSQL_RELAY_PASSWORD/" \
		-e "s/@LEDGER_PASSWORD@/$MYSQL_LEDGER_PASSWORD/" -e "s/@REPL_PASSWORD@/$MYSQL_REPL_PASSWORD/" \
		-e "s/@MOVER_PASSWORD@/$MYSQL_MOVER_PASSWORD/" |
		mariadb --no-defaults --socket="$(db_dir "$i")/mysql.sock" -uroot
done

# --- authentication ----------------------------------------------------------
# The local stack verifies HS256 tokens with a secret of its own, made once
# and kept in $RUN_DIR/jwt-secret (mode 600) so tokens printed earlier still
# work; it is where cmd.sh reads it, also for a stack with its own RUN_DIR.
# WALLET_AUTH_JWT_SECRET set by the caller wins.
if [ -z "${WALLET_AUTH_JWT_SECRET:-}" ]; then
	if [ ! -s "$RUN_DIR/jwt-secret" ]; then
		(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUN_DIR/jwt-secret")
		echo "generated a JWT secret for the local stack in $RUN_DIR/jwt-secret"
	fi
	WALLET_AUTH_JWT_SECRET=$(cat "$RUN_DIR/jwt-secret")
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
		mapfile -t svc_env < <(service_env "$svc")
		start_detached "$svc" env "${svc_env[@]}" "$BIN_DIR/$svc"
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

# With a second server and every shard still on the first (a new stack, or
# one that ran with one server until now), shards 2 and 3 move there,
# online, as an operator would move them.
if [ "$db_count" -ge 2 ] && ! "$ROOT/deploy/local/cmd.sh" account-service shards list --json | grep -q '"db2"'; then
	for sh in 2 3; do
		echo "moving shard $sh to db2"
		"$ROOT/deploy/local/cmd.sh" account-service shards move "$sh" --to db2 | tail -n 1
	done
fi

OPERATOR_TOKEN=$("$BIN_DIR/account-service" token --role operator --sub ops --ttl 24h)
CUSTOMER_TOKEN=$("$BIN_DIR/account-service" token --role customer --sub u-alice --ttl 24h)

cat <<EOF

The wallet is running:
  account-service  $(base_url account-service)   (API, /healthz, /readyz, /metrics)
  ledger-service   $(base_url ledger-service)   (ledger API, /healthz, /readyz, /metrics)
  outbox-relay     $(base_url outbox-relay)   (/healthz, /readyz, /metrics)
  NATS             nats://127.0.0.1:$NATS_PORT, monitoring http://127.0.0.1:$NATS_MONITOR_PORT
                   (users wallet_account, wallet_relay, wallet_ledger, wallet_admin; passwords in $SECRETS)
  MariaDB          $(for ((i = 1; i <= db_count; i++)); do printf 'db%s 127.0.0.1:%s  ' "$i" "$(db_port "$i")"; done)
                   each service as its own user (passwords in $SECRETS);
                   admin and migrations: wallet:wallet (shell: mariadb --no-defaults --socket=$MARIADB_DIR/mysql.sock -uroot)
  logs             $LOG_DIR/

Tokens, valid 24 h (make new ones: bin/account-service token --role customer --sub u-bob):
  export OPERATOR_TOKEN=$OPERATOR_TOKEN
  export CUSTOMER_TOKEN=$CUSTOMER_TOKEN   # owner u-alice

Try:
  curl -s -XPOST $(base_url account-service)/v1/accounts -H "Authorization: Bearer \$OPERATOR_TOKEN" -H 'Content-Type: application/json' -d '{"account_id":"alice","owner_id":"u-alice","currency":"USD"}'

More requests in README.md. make stop ends everything (data in .run/ is kept).
EOF
