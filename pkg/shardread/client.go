package shardread

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client reads account-service's shards through its read side. Token is
// an operator's bearer token: the routes refuse every other role.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// NewClient returns a client of account-service at baseURL with token.
func NewClient(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: time.Minute}}
}

// Summary reads shard's money and its stuck transfers and dead letters;
// pendingBefore (zero: the service's default) dates a stale transfer.
func (c *Client) Summary(ctx context.Context, shard int, pendingBefore time.Time) (Summary, error) {
	q := url.Values{}
	if !pendingBefore.IsZero() {
		q.Set("pending_before", pendingBefore.UTC().Format(time.RFC3339Nano))
	}
	var out Summary
	err := c.get(ctx, pathOf(SummaryPath, shard), q, &out)
	return out, err
}

// Accounts reads up to limit of shard's accounts with ids after after.
func (c *Client) Accounts(ctx context.Context, shard int, after string, limit int) (Accounts, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	var out Accounts
	err := c.get(ctx, pathOf(AccountsPath, shard), q, &out)
	return out, err
}

// Lookup reads the accounts of ids that shard holds, in batches of
// MaxLimit; an id it does not hold is left out.
func (c *Client) Lookup(ctx context.Context, shard int, ids []string) ([]Account, error) {
	var all []Account
	for len(ids) > 0 {
		n := min(len(ids), MaxLimit)
		var out Accounts
		if err := c.get(ctx, pathOf(AccountsPath, shard), url.Values{"id": ids[:n]}, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Accounts...)
		ids = ids[n:]
	}
	return all, nil
}

// Outbox reads how far shard's outbox is published; unpublishedBefore
// (zero: the service's default) dates a stale row.
func (c *Client) Outbox(ctx context.Context, shard int, unpublishedBefore time.Time) (Outbox, error) {
	q := url.Values{}
	if !unpublishedBefore.IsZero() {
		q.Set("unpublished_before", unpublishedBefore.UTC().Format(time.RFC3339Nano))
	}
	var out Outbox
	err := c.get(ctx, pathOf(OutboxPath, shard), q, &out)
	return out, err
}

func pathOf(pattern string, shard int) string {
	return strings.Replace(pattern, "{shard}", strconv.Itoa(shard), 1)
}

// get reads path?q into out; an answer other than 200 is an error carrying
// the problem's code and detail (RFC 9457).
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	u := c.BaseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("account-service: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("account-service GET %s: %w", path, err)
	}
	if res.StatusCode != http.StatusOK {
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(body, &p)
		return fmt.Errorf("account-service GET %s: %d %s: %s", path, res.StatusCode, p.Code, p.Detail)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("account-service GET %s: %w", path, err)
	}
	return nil
}
