#!/usr/bin/env bash
# Runs a service binary's operator command against the stack make run
# started, e.g.
#   deploy/local/cmd.sh ledger-service reconcile --json
#   deploy/local/cmd.sh ledger-service dead-letters replay shard2:7
#   deploy/local/cmd.sh outbox-relay republish --since 15m
#   deploy/local/cmd.sh account-service token --role customer --sub u-bob
# The stack's NATS wants a user (deploy/nats-auth.conf): the command gets
# its service's, the relay's for commands that publish to wallet.>, or
# wallet_admin's for provision and replay,
# from .run/secrets.env; the stack's JWT secret from .run/jwt-secret; the
# stream's replicas when a NATS cluster runs; MySQL as wallet, the local
# admin (the services' own users may not read every table), on every
# server (WALLET_SERVERS), with the replication login a shard move gives
# the target (WALLET_MOVE_REPLICATION_USER and _PASSWORD). WALLET_* set by
# the caller win.
set -euo pipefail

# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

if [ $# -lt 1 ]; then
	echo "usage: $0 account-service|ledger-service|outbox-relay [command] [flags]" >&2
	exit 2
fi
svc=$1
shift
case "$svc" in
account-service) user=wallet_account ;;
ledger-service) user=wallet_ledger ;;
outbox-relay) user=wallet_relay ;;
*) echo "cmd.sh: unknown service $svc" >&2; exit 2 ;;
esac
# Only the relay's user may publish to wallet.> (a replayed dead letter).
case "$svc ${1:-} ${2:-}" in
"ledger-service dead-letters replay" | "account-service dead-letters replay") user=wallet_relay ;;
esac
# Only wallet_admin changes streams and buckets (outbox-relay provision)
# or reads a whole stream through an ephemeral consumer (ledger-service
# replay): the services' users have their own durables only (ADR 0040).
case "$svc ${1:-}" in
"outbox-relay provision" | "ledger-service replay") user=wallet_admin ;;
esac
[ -x "$BIN_DIR/$svc" ] || { echo "cmd.sh: $BIN_DIR/$svc is missing: make build (or make run)" >&2; exit 1; }
[ -s "$SECRETS" ] || { echo "cmd.sh: no $SECRETS: start the stack with make run first" >&2; exit 1; }

# A cluster started by NATS_CLUSTER=3 make run leaves a pid file per node.
nodes=0
for f in "$RUN_DIR"/nats-*.pid; do
	[ -e "$f" ] && pid_of "$(basename "$f" .pid)" >/dev/null && nodes=$((nodes + 1))
done
if [ "$nodes" -gt 1 ]; then
	NATS_CLUSTER=$nodes
	export WALLET_NATS_REPLICAS=${WALLET_NATS_REPLICAS:-$nodes}
fi

load_secrets
export WALLET_NATS_URL=${WALLET_NATS_URL:-$(nats_url "$user")}
db_count=$(db_servers) || exit 1
export WALLET_SHARDS=${WALLET_SHARDS:-$(shard_dsns wallet wallet "$db_count")}
export WALLET_SERVERS=${WALLET_SERVERS:-$(servers_env wallet wallet "$db_count")}
export WALLET_MOVE_REPLICATION_USER=${WALLET_MOVE_REPLICATION_USER:-wallet_repl}
export WALLET_MOVE_REPLICATION_PASSWORD=${WALLET_MOVE_REPLICATION_PASSWORD:-$MYSQL_REPL_PASSWORD}
export WALLET_LEDGER_DATABASES=${WALLET_LEDGER_DATABASES:-$(ledger_dsns wallet wallet)}
if [ -z "${WALLET_AUTH_JWT_SECRET:-}" ] && [ -s "$RUN_DIR/jwt-secret" ]; then
	WALLET_AUTH_JWT_SECRET=$(cat "$RUN_DIR/jwt-secret")
	export WALLET_AUTH_JWT_SECRET
fi
exec "$BIN_DIR/$svc" "$@"
