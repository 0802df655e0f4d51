package database

import "strings"

// Tuples returns the placeholders of a multi-row statement: n tuples of
// width placeholders each, "(?,?),(?,?)" for n = width = 2, for the VALUES
// of an INSERT or a row IN list. It is "" when n or width is not positive.
func Tuples(n, width int) string {
	if n <= 0 || width <= 0 {
		return ""
	}
	tuple := "(?" + strings.Repeat(",?", width-1) + ")"
	var b strings.Builder
	b.Grow(n * (len(tuple) + 1))
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tuple)
	}
	return b.String()
}
