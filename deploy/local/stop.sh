#!/usr/bin/env bash
# Stops what run.sh started (make stop), found through the pid files in .run/:
# the services first, then nats-server, then MariaDB. Waits until each has
# exited and removes stale pid files. Safe when nothing runs; data is kept.
set -euo pipefail

# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stop_pids "${SERVICES[@]}"
# Whichever NATS layout runs (make stop needs no NATS_CLUSTER).
nats=(nats)
for f in "$RUN_DIR"/nats-*.pid; do
	[ -e "$f" ] && nats+=("$(basename "$f" .pid)")
done
stop_pids "${nats[@]}"
# Every MariaDB server of the stack (make stop needs no DB_SERVERS).
for dir in "$MARIADB_DIR" "$RUN_DIR"/mariadb-[0-9]*; do
	[ -d "$dir" ] || continue
	if [ -f "$dir/mariadbd.pid" ] && kill -0 "$(cat "$dir/mariadbd.pid")" 2>/dev/null; then
		echo "stopping MariaDB ($dir)"
	fi
	"$ROOT/deploy/local/mariadb.sh" stop "$dir"
	rm -f "$dir/mariadbd.pid"
done
