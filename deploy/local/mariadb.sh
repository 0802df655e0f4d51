#!/usr/bin/env bash
# A private MariaDB for the local stack and the tests, with its data in DIR.
#
#   mariadb.sh install          install MariaDB from the OS packages if missing
#   mariadb.sh start DIR PORT   initialise DIR once, start mariadbd, create the
#                               wallet user (password wallet; ALL WITH GRANT
#                               OPTION: the local admin and migration user); safe to repeat
#   mariadb.sh stop DIR         stop the server started in DIR
#
# MARIADB_ARGS adds server options (the tests relax durability with it).
# MARIADB_SERVER_ID (default: PORT) is the server's server_id and
# gtid_domain_id, which must differ between servers that replicate to each
# other (account-service shards move, docs/adr/0033).
# MARIADB_START_TIMEOUT (seconds, default 300) bounds the wait for the
# server to answer: after a crash InnoDB recovers its redo log first.
#
# Each server keeps its temporary files in DIR/tmp, never in /tmp: a
# starting mariadbd deletes every #sql* file in its tmpdir as left over
# from its own last run, and so pulled the on-disk temporary tables
# (information_schema queries, big sorts) from under any other server
# sharing /tmp. The server they belonged to then failed the query ("Error
# on delete of '/tmp/#sql-temptable-…'") or crashed (signal 11 in
# ha_maria::drop_table), which make test saw whenever a test started a
# private server while the test server ran migrations.
# A server killed with SIGKILL leaves its pid file, socket and socket lock
# behind, and may linger as a zombie until its parent reaps it: start
# treats the pid file as a running server only if that pid is a live
# mariadbd, removes the leftovers otherwise, and returns only once the
# server answers a ping (also when it was already starting).
# Durability stays on by default (innodb_flush_log_at_trx_commit=1,
# sync_binlog=1, the doublewrite buffer); a 1G redo log and buffer pool let
# sustained writes run without the furious flushing a 100M redo log forces
# at a few thousand transfers a second.
# The binary log is on, in ROW format, with server_id and gtid_domain_id
# unique per server: moving a schema to another server replays it there
# (docs/adr/0033). Rows are logged by key and changed columns, without the
# statements' text: about a third of the bytes per transfer. Binary logs
# are kept an hour (a move needs them for minutes; a benchmark writes
# gigabytes). Replication connections do not start with the server
# (skip-slave-start): their per-connection filters are set at run time and
# a restart forgets them, so a restarted connection would apply every
# schema of its source; a stopped one fails the move instead.
set -euo pipefail

install() {
	command -v mariadbd >/dev/null 2>&1 && return 0
	echo "mariadb.sh: installing MariaDB from the OS packages" >&2
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mariadb-server mariadb-client >/dev/null
}

# pid_of DIR prints the pid of the mariadbd running in DIR: the pid file's
# pid if it is alive, not a zombie, and mariadbd (not a recycled pid).
pid_of() {
	local pid
	[ -f "$1/mariadbd.pid" ] || return 1
	pid=$(cat "$1/mariadbd.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	case "$(ps -o stat= -p "$pid" 2>/dev/null)" in Z* | "") return 1 ;; esac
	case "$(ps -o comm= -p "$pid" 2>/dev/null)" in *mariadbd* | *mysqld*) echo "$pid" ;; *) return 1 ;; esac
}

running() { pid_of "$1" >/dev/null; }

ping() { mariadb-admin --no-defaults --socket="$1/mysql.sock" -uroot --connect-timeout=2 ping >/dev/null 2>&1; }

start() {
	local dir port user pid timeout id
	dir=$(realpath -m "$1") port=$2 user=$(id -un) timeout=${MARIADB_START_TIMEOUT:-300}
	id=${MARIADB_SERVER_ID:-$port}
	install
	mkdir -p "$dir/tmp"
	if ! pid=$(pid_of "$dir"); then
		# Leftovers of a server that died (SIGKILL, OOM, power loss): a stale
		# socket lock naming a recycled pid would make mariadbd refuse to start.
		rm -f "$dir/mariadbd.pid" "$dir/mysql.sock" "$dir/mysql.sock.lock"
		if [ ! -d "$dir/data/mysql" ]; then
			rm -rf "$dir/data"
			TMPDIR="$dir/tmp" mariadb-install-db --no-defaults --user="$user" --datadir="$dir/data" --tmpdir="$dir/tmp" \
				--auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 ||
				{ cat "$dir/install.log" >&2; exit 1; }
		fi
		# shellcheck disable=SC2086 # MARIADB_ARGS is a list of options
		setsid mariadbd --no-defaults --user="$user" --datadir="$dir/data" \
			--socket="$dir/mysql.sock" --port="$port" --bind-address=127.0.0.1 --tmpdir="$dir/tmp" \
			--pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
			--skip-name-resolve --max-connections=2000 \
			--innodb-buffer-pool-size=1G --innodb-log-file-size=1G \
			--server-id="$id" --gtid-domain-id="$id" --log-bin=mariadb-bin --relay-log=relay-bin \
			--binlog-format=ROW --binlog-row-image=MINIMAL --binlog-annotate-row-events=OFF --sync-binlog=1 \
			--binlog-expire-logs-seconds=3600 --max-binlog-size=256M --skip-slave-start \
			${MARIADB_ARGS:-} </dev/null >/dev/null 2>&1 &
		pid=$!
	fi
	local deadline=$((SECONDS + timeout))
	until ping "$dir"; do
		# The server we started may have forked (setsid) or not written its
		# pid file yet: it is gone only if neither pid is alive.
		if ! kill -0 "$pid" 2>/dev/null && ! running "$dir"; then
			echo "mariadb.sh: mariadbd exited during start-up; see $dir/error.log" >&2
			tail -n 20 "$dir/error.log" >&2 || true
			exit 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "mariadb.sh: mariadbd did not answer within ${timeout}s; see $dir/error.log" >&2
			tail -n 20 "$dir/error.log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
	mariadb --no-defaults --socket="$dir/mysql.sock" -uroot -e "
		CREATE USER IF NOT EXISTS 'wallet'@'%' IDENTIFIED BY 'wallet';
		CREATE USER IF NOT EXISTS 'wallet'@'localhost' IDENTIFIED BY 'wallet';
		GRANT ALL ON *.* TO 'wallet'@'%' WITH GRANT OPTION;
		GRANT ALL ON *.* TO 'wallet'@'localhost' WITH GRANT OPTION;"
}

stop() {
	local dir=$1 pid
	pid=$(pid_of "$dir") || return 0
	kill "$pid"
	for _ in $(seq 1 300); do pid_of "$dir" >/dev/null || return 0; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
install) install ;;
start) start "$2" "$3" ;;
stop) stop "$2" ;;
*) echo "usage: $0 install | start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
