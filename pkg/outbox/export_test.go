package outbox

// SetAside0 is shard 0's wallet_outbox_set_aside_total, for the tests.
var SetAside0 = setAsideTotal.WithLabelValues("0")
