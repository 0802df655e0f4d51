// Package systemtest runs the real binaries — account-service, outbox-relay,
// ledger-service — as processes against a private MariaDB and an embedded
// JetStream server, and checks the invariants of docs/design.md end to end,
// including crashes (SIGKILL) between steps, and holds the events a run emits
// to the published contract in docs/events. It has no non-test code beyond
// this harness.
package systemtest
