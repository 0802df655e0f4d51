//go:build !wallet_bug_no_dedupe

package mysql

// sagaInsert starts the inserts of the rows that record applied saga steps
// (inbox, credits, transfer_steps): their keys refuse a step saved twice.
// System tests built with -tags wallet_bug_no_dedupe (dedupe_bug.go) let
// the duplicate through, to see a double credit or refund committed.
const sagaInsert = "INSERT INTO"
