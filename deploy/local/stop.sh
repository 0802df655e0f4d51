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
if [ -f "$MARIADB_DIR/mariadbd.pid" ] && kill -0 "$(cat "$MARIADB_DIR/mariadbd.pid")" 2>/dev/null; then
	echo "stopping MariaDB"
fi
"$ROOT/deploy/local/mariadb.sh" stop "$MARIADB_DIR"
rm -f "$MARIADB_DIR/mariadbd.pid"
