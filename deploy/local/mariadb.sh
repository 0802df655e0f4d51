#!/usr/bin/env bash
# A private MariaDB for the local stack and the tests, with its data in DIR.
#
#   mariadb.sh install          install MariaDB from the OS packages if missing
#   mariadb.sh start DIR PORT   initialise DIR once, start mariadbd, create the
#                               wallet user (password wallet); safe to repeat
#   mariadb.sh stop DIR         stop the server started in DIR
#
# MARIADB_ARGS adds server options (the tests relax durability with it).
# Durability stays on by default (innodb_flush_log_at_trx_commit=1, the
# doublewrite buffer); a 1G redo log and buffer pool let sustained writes
# run without the furious flushing a 100M redo log forces at a few thousand
# transfers a second.
set -euo pipefail

install() {
	command -v mariadbd >/dev/null 2>&1 && return 0
	echo "mariadb.sh: installing MariaDB from the OS packages" >&2
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mariadb-server mariadb-client >/dev/null
}

running() { [ -f "$1/mariadbd.pid" ] && kill -0 "$(cat "$1/mariadbd.pid")" 2>/dev/null; }

start() {
	local dir port user
	dir=$(realpath -m "$1") port=$2 user=$(id -un)
	install
	mkdir -p "$dir"
	if running "$dir"; then return 0; fi
	if [ ! -d "$dir/data/mysql" ]; then
		rm -rf "$dir/data"
		mariadb-install-db --no-defaults --user="$user" --datadir="$dir/data" \
			--auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 ||
			{ cat "$dir/install.log" >&2; exit 1; }
	fi
	# shellcheck disable=SC2086 # MARIADB_ARGS is a list of options
	setsid mariadbd --no-defaults --user="$user" --datadir="$dir/data" \
		--socket="$dir/mysql.sock" --port="$port" --bind-address=127.0.0.1 \
		--pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
		--skip-name-resolve --max-connections=2000 \
		--innodb-buffer-pool-size=1G --innodb-log-file-size=1G \
		${MARIADB_ARGS:-} </dev/null >/dev/null 2>&1 &
	for _ in $(seq 1 300); do
		if mariadb-admin --no-defaults --socket="$dir/mysql.sock" -uroot ping >/dev/null 2>&1; then
			mariadb --no-defaults --socket="$dir/mysql.sock" -uroot -e "
				CREATE USER IF NOT EXISTS 'wallet'@'%' IDENTIFIED BY 'wallet';
				CREATE USER IF NOT EXISTS 'wallet'@'localhost' IDENTIFIED BY 'wallet';
				GRANT ALL ON *.* TO 'wallet'@'%';
				GRANT ALL ON *.* TO 'wallet'@'localhost';"
			return 0
		fi
		sleep 0.1
	done
	echo "mariadb.sh: mariadbd did not start; see $dir/error.log" >&2
	tail -n 20 "$dir/error.log" >&2 || true
	exit 1
}

stop() {
	local dir=$1 pid
	running "$dir" || return 0
	pid=$(cat "$dir/mariadbd.pid")
	kill "$pid"
	for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
install) install ;;
start) start "$2" "$3" ;;
stop) stop "$2" ;;
*) echo "usage: $0 install | start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
