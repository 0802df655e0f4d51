package shardsplit

import (
	"encoding/json"
	"strings"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/shard"
)

// The audit of a shard schema's tables (ADR 0036): what the split does to
// each one. Every table a migration makes must be listed here, moved or
// kept; Run refuses a schema with a table it does not know, since it could
// not say whose rows they are.
//
// Moved (their rows go to the new shard of the account named):
//
//	accounts         account_id
//	movements        account_id
//	transfers        from_account (the source shard records a transfer);
//	                 from_shard, to_shard rewritten to the new count
//	credits          to_account (the destination records its credit);
//	                 from_shard rewritten
//	transfer_steps   debited, completed, refunded: from_account (taken on
//	                 the source); credited, credit_rejected: the to_account
//	                 of the credit with the same key (taken on the
//	                 destination); shard rewritten
//	outbox           the rows not yet published: the account whose shard
//	                 emitted the event (eventAccount), in id order, ids
//	                 kept; published rows stay until the relay prunes them
//
// Kept in the old schema, which stays shard i of the new count:
//
//	inbox            (consumer, event_id) names no account. The saga is
//	                 idempotent by its business keys too (the credit
//	                 record, a transfer that ended), so a redelivery that
//	                 reaches a new shard without the row changes nothing.
//	dead_letters     an operator's queue, read on every shard; kept where
//	                 the advisory capture dedupes them (consumer, stream_seq)
//	outbox_lease     one row per schema; a new schema gets its own
//	shard_meta       one row per schema: shard, server, frozen
//	schema_migrations one row per migration file of the schema
//
// The split's own, dropped when it ends:
//
//	split_state      its progress in a source schema (plan, counts, steps done)
//	split_shard_of   account id -> new shard, for every account a row names
var (
	movedTables = []string{"accounts", "movements", "transfer_steps", "transfers", "credits", "outbox"}
	keptTables  = []string{"inbox", "dead_letters", "outbox_lease", "shard_meta", "schema_migrations"}
	ownTables   = []string{stateTable, mapTable}
)

const (
	stateTable = "split_state"
	mapTable   = "split_shard_of"
)

// spec is how one table's rows are routed and rewritten in SQL. Every
// expression reads the source row as t; {src} is the source schema.
type spec struct {
	name string
	key  []string // primary key columns, all strings
	// shard is the new shard of the row's account (NULL: not known).
	shard string
	// joins are the joins shard and rewrite read.
	joins string
	// rewrite gives columns that hold a shard number their new value; ""
	// is the row's own new shard.
	rewrite map[string]string
	// extra columns the scan reads for decide (transfers).
	extra []string
}

var specs = map[string]spec{
	"accounts": {name: "accounts", key: []string{"account_id"}, shard: "m.shard",
		joins: "LEFT JOIN {src}." + mapTable + " m ON m.account_id = t.account_id"},
	"movements": {name: "movements", key: []string{"transaction_id"}, shard: "m.shard",
		joins: "LEFT JOIN {src}." + mapTable + " m ON m.account_id = t.account_id"},
	"transfer_steps": {name: "transfer_steps", key: []string{"transaction_id", "from_account", "step"},
		shard: "CASE WHEN t.step IN ('" + account.StepCredited + "', '" + account.StepCreditRejected + "') THEN mc.shard ELSE mf.shard END",
		joins: "LEFT JOIN {src}." + mapTable + " mf ON mf.account_id = t.from_account " +
			"LEFT JOIN {src}.credits c ON t.step IN ('" + account.StepCredited + "', '" + account.StepCreditRejected + "') " +
			"AND c.transaction_id = t.transaction_id AND c.from_account = t.from_account " +
			"LEFT JOIN {src}." + mapTable + " mc ON mc.account_id = c.to_account",
		rewrite: map[string]string{"shard": ""}},
	"transfers": {name: "transfers", key: []string{"transaction_id", "from_account"}, shard: "mf.shard",
		joins: "LEFT JOIN {src}." + mapTable + " mf ON mf.account_id = t.from_account " +
			"LEFT JOIN {src}." + mapTable + " mt ON mt.account_id = t.to_account",
		rewrite: map[string]string{"from_shard": "", "to_shard": "COALESCE(mt.shard, t.to_shard)"},
		extra:   []string{"t.status", "t.from_shard", "t.to_shard", "mt.shard"}},
	"credits": {name: "credits", key: []string{"transaction_id", "from_account"}, shard: "mt.shard",
		joins: "LEFT JOIN {src}." + mapTable + " mt ON mt.account_id = t.to_account " +
			"LEFT JOIN {src}." + mapTable + " mf ON mf.account_id = t.from_account",
		rewrite: map[string]string{"from_shard": "COALESCE(mf.shard, t.from_shard)"}},
}

// accountColumns are the columns of the moved tables that hold an account
// id: the split's map (split_shard_of) holds each value they hold.
var accountColumns = [][2]string{
	{"accounts", "account_id"}, {"movements", "account_id"},
	{"transfers", "from_account"}, {"transfers", "to_account"},
	{"credits", "from_account"}, {"credits", "to_account"},
	{"transfer_steps", "from_account"},
}

// known reports whether the split knows what to do with table.
func known(table string) bool {
	for _, list := range [][]string{movedTables, keptTables, ownTables} {
		for _, t := range list {
			if t == table {
				return true
			}
		}
	}
	return false
}

// eventAccount is the account an outbox row belongs to: the one on the
// shard that emitted the event. transfer.credited and
// transfer.credit_rejected are the destination's; the other transfer
// events the source's (a same-shard transfer.completed too); account
// events name theirs. "" for a row whose payload is not a known event.
func eventAccount(eventType, data string) string {
	switch eventType {
	case events.TransferCredited, events.TransferCreditRejected,
		events.TransferDebited, events.TransferCompleted, events.TransferFailed:
		var p events.Transfer
		if json.Unmarshal([]byte(data), &p) != nil {
			return ""
		}
		if eventType == events.TransferCredited || eventType == events.TransferCreditRejected {
			return p.ToAccount
		}
		return p.FromAccount
	case events.AccountOpened, events.AccountStatusChanged:
		var p events.Account
		if json.Unmarshal([]byte(data), &p) != nil {
			return ""
		}
		return p.AccountID
	case events.AccountDeposited, events.AccountWithdrawn:
		var p events.Movement
		if json.Unmarshal([]byte(data), &p) != nil {
			return ""
		}
		return p.AccountID
	}
	return ""
}

// eventShard is the new shard of an outbox row of source shard src, or
// src when its account is unknown or hashes to another old shard (a row
// can only go to a schema split from its own).
func eventShard(eventType, data string, src, from, to int) int {
	id := eventAccount(eventType, data)
	if id == "" {
		return src
	}
	if sh := shard.Of(id, to); sh%from == src {
		return sh
	}
	return src
}

// quote quotes a schema or table name.
func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }
