package shardsplit

// Audited lists the tables the split knows, moved or kept (not its own).
func Audited() []string { return append(append([]string{}, movedTables...), keptTables...) }
