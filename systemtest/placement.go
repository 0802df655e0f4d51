package systemtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/placement"
)

// Placement reads the placement map account-service stored in the
// fleet's JetStream cluster (bucket wallet_placement): which server holds
// each logical shard now. It asks the bucket's stream leader: the bucket
// allows direct gets (the key-value default), which any replica answers,
// and a node the nemesis has just cut off or restarted answers with the
// map before the last move, which the checker would take for a move
// half-done.
func (f *Fleet) Placement(ctx context.Context) (placement.Map, error) {
	nc, err := nats.Connect(f.natsURLs, nats.Timeout(5*time.Second))
	if err != nil {
		return placement.Map{}, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + placement.Bucket + "." + placement.Key})
	msg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+placement.Bucket, req)
	if err != nil {
		return placement.Map{}, fmt.Errorf("read the placement from its stream leader: %w", err)
	}
	var res struct {
		Message *struct {
			Data []byte `json:"data"` // base64 in the JSON
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &res); err != nil {
		return placement.Map{}, fmt.Errorf("read the placement: %w", err)
	}
	if res.Error != nil || res.Message == nil {
		return placement.Map{}, fmt.Errorf("read the placement: %+v", res.Error)
	}
	return placement.Decode(res.Message.Data)
}

// shards is how many logical shards the fleet has.
func (f *Fleet) shards() int { return len(f.direct) }

// schema is logical shard sh's schema name, the same on every server.
func (f *Fleet) schema(sh int) string {
	cfg, err := mysql.ParseDSN(f.direct[sh])
	if err != nil {
		panic(err) // the fleet made it
	}
	return cfg.DBName
}

// server returns the fleet's MariaDB server called name.
func (f *Fleet) server(name string) (*DBServer, error) {
	for _, d := range f.DBs {
		if d.Name == name {
			return d, nil
		}
	}
	return nil, fmt.Errorf("the placement names server %q, which the fleet does not have", name)
}

// pool returns a direct pool on schema ("" for none) of d, opened once
// and kept until the test ends. Safe for concurrent use.
func (f *Fleet) pool(d *DBServer, schema string) (*sqlx.DB, error) {
	dsn := d.DSN(schema)
	f.poolMu.Lock()
	defer f.poolMu.Unlock()
	if db := f.pools[dsn]; db != nil {
		return db, nil
	}
	db, err := database.Open(dsn)
	if err != nil {
		return nil, err
	}
	f.pools[dsn] = db
	return db, nil
}

func (f *Fleet) closePools() {
	f.poolMu.Lock()
	defer f.poolMu.Unlock()
	for dsn, db := range f.pools {
		db.Close()
		delete(f.pools, dsn)
	}
}

// LiveShards returns, for every logical shard, a direct pool on its live
// copy: its schema on the server the placement names now, wherever the
// nemesis moved it.
func (f *Fleet) LiveShards(ctx context.Context) ([]*sqlx.DB, placement.Map, error) {
	m, err := f.Placement(ctx)
	if err != nil {
		return nil, m, fmt.Errorf("placement: %w", err)
	}
	if m.Shards != f.shards() {
		return nil, m, fmt.Errorf("the placement has %d logical shards, the fleet %d", m.Shards, f.shards())
	}
	var out []*sqlx.DB
	for sh := range m.Shards {
		d, err := f.server(m.Server(sh))
		if err != nil {
			return nil, m, err
		}
		db, err := f.pool(d, f.schema(sh))
		if err != nil {
			return nil, m, err
		}
		out = append(out, db)
	}
	return out, m, nil
}

// shardCopy is what one server holds of a logical shard: nothing, or a
// schema whose shard_meta says which shard it is, on which server it is
// the live copy, and whether a move froze it.
type shardCopy struct {
	exists bool
	meta   bool // the schema has a shard_meta row
	shard  int
	server string
	frozen bool
}

// live reports whether c is shard sh's live copy on server name: the one
// the services' fence lets writers use.
func (c shardCopy) live(sh int, name string) bool {
	return c.exists && c.meta && c.shard == sh && c.server == name && !c.frozen
}

func (c shardCopy) String() string {
	switch {
	case !c.exists:
		return "no copy"
	case !c.meta:
		return "a copy without shard_meta"
	}
	return fmt.Sprintf("shard_meta shard %d server %s frozen %t", c.shard, c.server, c.frozen)
}

// copyOn reads what server d holds of logical shard sh.
func (f *Fleet) copyOn(ctx context.Context, d *DBServer, sh int) (shardCopy, error) {
	admin, err := f.pool(d, "")
	if err != nil {
		return shardCopy{}, err
	}
	schema := f.schema(sh)
	var n int
	if err := admin.GetContext(ctx, &n, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", schema); err != nil {
		return shardCopy{}, fmt.Errorf("%s: %w", d.Name, err)
	}
	if n == 0 {
		return shardCopy{}, nil
	}
	c := shardCopy{exists: true}
	var server sql.NullString
	err = admin.QueryRowxContext(ctx, "SELECT shard, server, frozen FROM `"+schema+"`.shard_meta WHERE id = 1").Scan(&c.shard, &server, &c.frozen)
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me) && me.Number == 1146, errors.Is(err, sql.ErrNoRows): // a copy being made, or one left half made
		return c, nil
	case err != nil:
		return shardCopy{}, fmt.Errorf("%s: %s.shard_meta: %w", d.Name, schema, err)
	}
	c.meta, c.server = true, server.String
	return c, nil
}

// checkPlacement: every logical shard's copy on the server the placement
// names is its live copy, and no other server holds a live copy of it (a
// writer that reached one would split the shard's history). What a move
// left behind that no writer can use (a frozen old copy, a copy a failed
// move could not drop, a replication connection) is returned as notes for
// the report.
func (f *Fleet) checkPlacement(ctx context.Context, m placement.Map, fs *Findings) (notes []string, err error) {
	for sh := range m.Shards {
		for _, d := range f.DBs {
			c, err := f.copyOn(ctx, d, sh)
			if err != nil {
				return nil, err
			}
			switch {
			case d.Name == m.Server(sh) && !c.live(sh, d.Name):
				fs.Add(InvPlaced, "shard %d: the placement (version %d) puts it on %s, whose copy is not live: %s", sh, m.Version, d.Name, c)
			case d.Name != m.Server(sh) && c.live(sh, d.Name):
				fs.Add(InvPlaced, "shard %d: %s holds a live copy too, though the placement (version %d) puts it on %s", sh, d.Name, m.Version, m.Server(sh))
			case d.Name != m.Server(sh) && c.exists:
				notes = append(notes, fmt.Sprintf("shard %d: %s keeps a copy no writer can use (%s)", sh, d.Name, c))
			}
		}
	}
	for _, d := range f.DBs {
		conns, err := f.replicaConnections(ctx, d)
		if err != nil {
			return nil, err
		}
		if len(conns) > 0 {
			notes = append(notes, fmt.Sprintf("%s still has replication connections %s", d.Name, strings.Join(conns, ", ")))
		}
	}
	return notes, nil
}

// replicaConnections names the replication connections server d has.
func (f *Fleet) replicaConnections(ctx context.Context, d *DBServer) ([]string, error) {
	admin, err := f.pool(d, "")
	if err != nil {
		return nil, err
	}
	rows, err := admin.QueryxContext(ctx, "SHOW ALL REPLICAS STATUS")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		row := map[string]any{}
		if err := rows.MapScan(row); err != nil {
			return nil, fmt.Errorf("%s: %w", d.Name, err)
		}
		names = append(names, fmt.Sprintf("%q", fmt.Sprintf("%s", row["Connection_name"])))
	}
	slices.Sort(names)
	return names, rows.Err()
}
