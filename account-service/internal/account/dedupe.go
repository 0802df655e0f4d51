//go:build !wallet_bug_no_dedupe

package account

// sagaDedupe makes saga steps skip what they already applied (their event
// in the inbox, the credit record, a transfer that already ended). System
// tests turn it off with -tags wallet_bug_no_dedupe (dedupe_bug.go) to see
// their invariant checker catch a double credit or refund.
const sagaDedupe = true
