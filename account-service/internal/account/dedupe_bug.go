//go:build wallet_bug_no_dedupe

package account

// sagaDedupe is off in this deliberately broken test build: a redelivered
// or redriven saga event credits or refunds again (see dedupe.go).
const sagaDedupe = false
