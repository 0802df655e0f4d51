package httpapi

import (
	"net/http"
	"time"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/web"
)

type accountJSON struct {
	AccountID string    `json:"account_id"`
	OwnerID   string    `json:"owner_id"`
	Currency  string    `json:"currency"`
	Balance   string    `json:"balance"`
	Status    string    `json:"status"`
	Version   int64     `json:"version"`
	Shard     int       `json:"shard"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toAccountJSON(a account.Account) accountJSON {
	return accountJSON{AccountID: a.ID, OwnerID: a.OwnerID, Currency: a.Currency,
		Balance: money.Format(a.Balance, a.Currency), Status: string(a.Status), Version: a.Version,
		Shard: a.Shard, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// openAccount: 201 with the new account, 200 when the same account already
// exists (a safe retry), 409 account_exists when it differs.
func (s *Server) openAccount(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		AccountID string `json:"account_id"`
		OwnerID   string `json:"owner_id"`
		Currency  string `json:"currency"`
	}
	if err := web.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	req := account.OpenRequest{AccountID: body.AccountID, OwnerID: body.OwnerID, Currency: body.Currency}
	if err := req.Validate(); err != nil {
		return err
	}
	a, created, err := s.store.Open(r.Context(), req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/accounts/"+a.ID)
	}
	web.JSON(w, status, toAccountJSON(a))
	return nil
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	a, err := s.owned(r, id)
	if err != nil {
		return err
	}
	web.JSON(w, http.StatusOK, toAccountJSON(a))
	return nil
}

// owned reads account id for a caller that may see it: another owner's
// account is account_not_found, as an unknown one.
func (s *Server) owned(r *http.Request, id string) (account.Account, error) {
	a, err := s.store.Get(r.Context(), id)
	if err != nil {
		return account.Account{}, err
	}
	if err := ownAccount(r.Context(), a); err != nil {
		return account.Account{}, err
	}
	return a, nil
}

// patchAccount changes an account's status: active, frozen or closed.
func (s *Server) patchAccount(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body struct {
		Status string `json:"status"`
	}
	if err := web.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	to := account.Status(body.Status)
	if to != account.Active && to != account.Frozen && to != account.Closed {
		return problem.New(problem.InvalidRequest, "status must be active, frozen or closed, got %q", body.Status)
	}
	a, err := s.store.SetStatus(r.Context(), id, to)
	if err != nil {
		return err
	}
	web.JSON(w, http.StatusOK, toAccountJSON(a))
	return nil
}

type movementJSON struct {
	TransactionID string `json:"transaction_id"`
	Type          string `json:"type"`
	AccountID     string `json:"account_id"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	BalanceAfter  string `json:"balance_after"`
	Version       int64  `json:"version"`
}

// move handles deposits and withdrawals: 200 with the movement, the same
// answer again for a retry with the same transaction_id and body.
func (s *Server) move(kind account.Kind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		var body struct {
			Amount        string `json:"amount"`
			Currency      string `json:"currency"`
			TransactionID string `json:"transaction_id"`
		}
		if err := web.DecodeJSON(w, r, &body); err != nil {
			return err
		}
		req, err := parseMovement(kind, id, body.Amount, body.Currency, body.TransactionID)
		if err != nil {
			return err
		}
		m, err := s.money.Move(r.Context(), req)
		if err != nil {
			return err
		}
		web.JSON(w, http.StatusOK, movementJSON{TransactionID: m.TransactionID, Type: string(m.Kind),
			AccountID: m.AccountID, Amount: m.Amount.String(), Currency: m.Amount.Currency(),
			BalanceAfter: money.Format(m.BalanceAfter, m.Amount.Currency()), Version: m.Version})
		return nil
	}
}

func parseMovement(kind account.Kind, id, amount, currency, txID string) (account.MovementRequest, error) {
	if err := account.ValidTransactionID(txID); err != nil {
		return account.MovementRequest{}, err
	}
	amt, err := account.ParseAmount(amount, currency)
	if err != nil {
		return account.MovementRequest{}, err
	}
	return account.MovementRequest{Kind: kind, AccountID: id, TransactionID: txID, Amount: amt}, nil
}
