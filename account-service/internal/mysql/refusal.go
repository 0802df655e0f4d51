package mysql

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/problem"
)

// storedRefusal is the refusal column of a refused transfer or movement:
// the domain's decision (code, detail, params), so a retry gets the same
// answer. Rows written before refusals were stored this way hold the problem
// document's extension members in extra instead of params; they are read
// as params, so they replay as they were first answered.
type storedRefusal struct {
	Code   problem.Code      `json:"code"`
	Detail string            `json:"detail"`
	Params map[string]string `json:"params,omitempty"`
	Extra  map[string]any    `json:"extra,omitempty"`
}

// refusalValue is the column's value for r: NULL when nothing was refused.
func refusalValue(r *account.Refusal) (any, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(storedRefusal{Code: r.Code, Detail: r.Detail, Params: r.Params})
	if err != nil {
		return nil, fmt.Errorf("encode refusal %s: %w", r.Code, err)
	}
	return string(b), nil
}

// refusalOf decodes the column: nil when the row was not refused.
func refusalOf(s sql.NullString) (*account.Refusal, error) {
	if !s.Valid {
		return nil, nil
	}
	var r storedRefusal
	if err := json.Unmarshal([]byte(s.String), &r); err != nil {
		return nil, fmt.Errorf("decode refusal: %w", err)
	}
	for k, v := range r.Extra { // an older row's problem members
		if r.Params == nil {
			r.Params = map[string]string{}
		}
		r.Params[k] = fmt.Sprint(v)
	}
	return &account.Refusal{Code: r.Code, Detail: r.Detail, Params: r.Params}, nil
}
