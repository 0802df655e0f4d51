package mysql

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/walletco/wallet/pkg/placement"
)

// Place places the shards as m says; m names the servers as the store does.
func (s *Store) Place(m placement.Map) error {
	if len(m.Owner) != len(s.schemas) {
		return fmt.Errorf("mysql: the placement has %d shards, the store %d", len(m.Owner), len(s.schemas))
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
