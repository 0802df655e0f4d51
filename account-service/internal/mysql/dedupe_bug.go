//go:build wallet_bug_no_dedupe

package mysql

// sagaInsert skips rows whose key exists in this deliberately broken test
// build, so a saga step applied twice commits (see dedupe.go).
const sagaInsert = "INSERT IGNORE INTO"
