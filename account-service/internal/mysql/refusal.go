package mysql

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/walletco/wallet/pkg/problem"
)

// storedRefusal is the refusal column of a refused transfer or movement: the
// problem it was answered, so a retry gets the same status and body.
type storedRefusal struct {
	Code   problem.Code   `json:"code"`
	Detail string         `json:"detail"`
	Extra  map[string]any `json:"extra,omitempty"`
}

// refusalValue is the column's value for p: NULL when nothing was refused.
func refusalValue(p *problem.Error) (any, error) {
	if p == nil {
		return nil, nil
	}
	b, err := json.Marshal(storedRefusal{Code: p.Code, Detail: p.Detail, Extra: p.Extra})
	if err != nil {
		return nil, fmt.Errorf("encode refusal %s: %w", p.Code, err)
	}
	return string(b), nil
}

// refusalOf decodes the column: nil when the row was not refused.
func refusalOf(s sql.NullString) (*problem.Error, error) {
	if !s.Valid {
		return nil, nil
	}
	var r storedRefusal
	if err := json.Unmarshal([]byte(s.String), &r); err != nil {
		return nil, fmt.Errorf("decode refusal: %w", err)
	}
	return &problem.Error{Code: r.Code, Detail: r.Detail, Extra: r.Extra}, nil
}
