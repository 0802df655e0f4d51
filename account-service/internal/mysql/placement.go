package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/walletco/wallet/pkg/placement"
)

// Place places the shards as m says; m names the servers as the store does.
func (s *Store) Place(m placement.Map) error {
	if len(m.Owner) != len(s.schemas) {
		// The count is fixed per deployment: only "shards split" changes it.
		return fmt.Errorf("mysql: the stored placement has %d logical shards but the configuration declares %d: "+
			"configure the stored count, or upgrade with \"account-service shards split\" (docs/operations.md)", len(m.Owner), len(s.schemas))
	}
	owners := make([]int, len(m.Owner))
	for sh, name := range m.Owner {
		owners[sh] = -1
		for i, srv := range s.servers {
			if srv.Name == name {
				owners[sh] = i
			}
		}
		if owners[sh] < 0 {
			return fmt.Errorf("mysql: shard %d is on server %q, which this instance is not configured with", sh, name)
		}
	}
	return s.SetOwners(owners)
}

// Follow places the shards by every new placement f brings, until ctx
// ends. A writer routed by the old one meets the fence and is answered 503
// with Retry-After; its retry goes to the new server.
func (s *Store) Follow(ctx context.Context, f *placement.Follower, log *slog.Logger) {
	v := f.Current().Version
	for {
		m, err := f.Next(ctx, v)
		if err != nil {
			return
		}
		v = m.Version
		if err := s.Place(m); err != nil {
			log.Error("placement not followed", "version", v, "err", err)
			continue
		}
		log.Info("shards placed by the new placement", "version", v)
	}
}

// FindLive places each shard on the server that holds its live copy, as
// its shard_meta says (not frozen, naming that server), for a process that
// runs without the placement map (the migrate command). A shard without a
// live copy anywhere (a new deployment) keeps its configured server; two
// live copies are an error.
func (s *Store) FindLive(ctx context.Context) error {
	owners := slices.Clone(*s.owners.Load())
	for sh, schema := range s.schemas {
		if schema == "" {
			continue // the store's own pools: nothing to look for
		}
		found := -1
		for srv := range s.servers {
			live, err := s.isLive(ctx, srv, sh)
			if err != nil {
				return fmt.Errorf("shard %d on %s: %w", sh, s.servers[srv].Name, err)
			}
			if !live {
				continue
			}
			if found >= 0 {
				return fmt.Errorf("shard %d has a live copy on both %s and %s", sh, s.servers[found].Name, s.servers[srv].Name)
			}
			found = srv
		}
		if found >= 0 {
			owners[sh] = found
		}
	}
	return s.SetOwners(owners)
}

// isLive reports whether server srv holds shard sh's live copy.
func (s *Store) isLive(ctx context.Context, srv, sh int) (bool, error) {
	var n int
	if err := s.servers[srv].DB.GetContext(ctx, &n, `SELECT COUNT(*) FROM information_schema.columns
		WHERE table_schema = ? AND table_name = 'shard_meta' AND column_name = 'frozen'`, s.schemas[sh]); err != nil || n == 0 {
		return false, err // no copy, or one from before placement: claimed where configured
	}
	var m meta
	err := s.servers[srv].DB.GetContext(ctx, &m, "SELECT shard, server, frozen FROM "+quoteName(s.schemas[sh])+".shard_meta WHERE id = 1")
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil && !m.Frozen && m.Server == s.servers[srv].Name, err
}
