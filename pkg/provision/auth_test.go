package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/provision"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// The permissions of deploy/nats-auth.conf (ADR 0040), each refusal shown
// against a server started with the file: only wallet_admin changes
// streams and buckets, only the relay publishes events, and each consumer
// creates, reads, acks and inspects only its own durables.

// user is a connection as one of the file's users; errs receives the
// permission violations the server reports for it.
type user struct {
	name string
	js   jetstream.JetStream
	errs <-chan error
}

func connect(t *testing.T, url, name string) user {
	t.Helper()
	js, errs := testenv.ConnectAs(t, url, name)
	return user{name: name, js: js, errs: errs}
}

// refused runs a JetStream API request that must be refused: the server
// does not answer it (the request times out) and reports a permissions
// violation.
func (u user) refused(t *testing.T, what string, req func(context.Context) error) {
	t.Helper()
	for len(u.errs) > 0 {
		<-u.errs
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := req(ctx)
	cancel()
	if err == nil {
		t.Fatalf("%s may %s", u.name, what)
	}
	u.violation(t, what)
}

// violation waits for the server's permissions violation.
func (u user) violation(t *testing.T, what string) {
	t.Helper()
	select {
	case err := <-u.errs:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(err.Error(), "Permissions Violation") {
			t.Fatalf("%s: %s: %v, want a permissions violation", u.name, what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: %s was not refused", u.name, what)
	}
}

// published publishes subject without waiting for an answer (an ack, an
// event) and expects the server's permissions violation.
func (u user) publishRefused(t *testing.T, subject string) {
	t.Helper()
	for len(u.errs) > 0 {
		<-u.errs
	}
	nc := u.js.Conn()
	if err := nc.Publish(subject, []byte(`{"forged":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	u.violation(t, "publish "+subject)
}

// authStack is an AuthNATS server provisioned by wallet_admin with two
// partitions, one event in each stream, and the durables saga and ledger
// on WALLET_0 made by their own users.
type authStack struct {
	url                           string
	admin, relay, account, ledger user
	settings                      provision.Settings
}

func newAuthStack(t *testing.T) authStack {
	t.Helper()
	url := testenv.AuthNATS(t).ClientURL()
	s := authStack{url: url, settings: settings(2, time.Minute),
		admin: connect(t, url, "wallet_admin"), relay: connect(t, url, "wallet_relay"),
		account: connect(t, url, "wallet_account"), ledger: connect(t, url, "wallet_ledger")}
	ctx := ctxT(t)
	if _, err := provision.Apply(ctx, s.admin.js, provision.All(s.settings), quiet()); err != nil {
		t.Fatalf("wallet_admin provisions: %v", err)
	}
	for _, subj := range []string{"wallet.0.transfer.debited.0", "saga.1.transfer.debited.3"} {
		if _, err := s.relay.js.Publish(ctx, subj, []byte(`{}`)); err != nil {
			t.Fatalf("relay publishes %s: %v", subj, err)
		}
	}
	return s
}

// durable is the configuration of a durable pull consumer of partition
// p's facts.
func durable(name string, p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: events.PartitionSubjects(p)[0]}
}

// own shows that u creates, reads, acks and inspects its durable on every
// partition stream, and verifies the streams.
func (s authStack) own(t *testing.T, u user, name string) {
	t.Helper()
	ctx := ctxT(t)
	if err := provision.Verify(ctx, u.js, provision.Streams(s.settings), 0, quiet()); err != nil {
		t.Fatalf("%s verifies the streams: %v", u.name, err)
	}
	for p := range s.settings.Stream.Partitions {
		cfg := durable(name, p)
		cfg.FilterSubject = ""
		if _, err := u.js.CreateOrUpdateConsumer(ctx, stream.PartitionName(p), cfg); err != nil {
			t.Fatalf("%s creates %s on %s: %v", u.name, name, stream.PartitionName(p), err)
		}
	}
	c, err := u.js.CreateOrUpdateConsumer(ctx, stream.PartitionName(0), durable(name, 0)) // with a filter: another API subject
	if err != nil {
		t.Fatalf("%s updates %s with a filter: %v", u.name, name, err)
	}
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatalf("%s acks: %v", u.name, err)
		}
		n++
	}
	if err := batch.Error(); err != nil || n != 1 {
		t.Fatalf("%s fetched %d messages: %v", u.name, n, err)
	}
	if _, err := c.Info(ctx); err != nil {
		t.Fatalf("%s inspects %s: %v", u.name, name, err)
	}
}

// notOthers shows that u can neither create, read, ack, inspect nor delete
// the durable other (made by its owner), nor a durable of any other name.
func (s authStack) notOthers(t *testing.T, u user, other user, name string) {
	t.Helper()
	ctx := ctxT(t)
	c, err := other.js.CreateOrUpdateConsumer(ctx, stream.PartitionName(1), durable(name, 1))
	if err != nil {
		t.Fatalf("%s creates %s: %v", other.name, name, err)
	}
	for _, cfg := range []jetstream.ConsumerConfig{durable(name, 1), {Durable: name, AckPolicy: jetstream.AckExplicitPolicy}, durable("intruder", 1)} {
		u.refused(t, "create the durable "+cfg.Durable, func(ctx context.Context) error {
			_, err := u.js.CreateOrUpdateConsumer(ctx, stream.PartitionName(1), cfg)
			return err
		})
	}
	u.refused(t, "inspect "+name, func(ctx context.Context) error {
		_, err := u.js.Consumer(ctx, stream.PartitionName(1), name)
		return err
	})
	u.refused(t, "read "+name, func(ctx context.Context) error {
		_, err := u.js.Conn().RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT."+stream.PartitionName(1)+"."+name, []byte(`{"batch":1}`))
		return err
	})
	u.refused(t, "delete "+name, func(ctx context.Context) error {
		return u.js.DeleteConsumer(ctx, stream.PartitionName(1), name)
	})
	// An ack is a plain publish to the message's reply subject.
	u.publishRefused(t, "$JS.ACK."+stream.PartitionName(1)+"."+name+".1.1.1.1700000000000000000.0")
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer != 0 || info.AckFloor.Stream != 0 {
		t.Fatalf("%s's durable %s was read or acked: %+v", other.name, name, info)
	}
}

// notStreams shows that u can neither create, update, purge nor delete a
// stream or a bucket.
func (s authStack) notStreams(t *testing.T, u user) {
	t.Helper()
	changed := stream.PartitionStream(stream.Config{Replicas: 1, DuplicateWindow: 2 * time.Minute}, 0)
	u.refused(t, "update a stream", func(ctx context.Context) error {
		_, err := u.js.UpdateStream(ctx, changed)
		return err
	})
	u.refused(t, "delete a stream", func(ctx context.Context) error {
		return u.js.DeleteStream(ctx, stream.PartitionName(0))
	})
	u.refused(t, "purge a stream", func(ctx context.Context) error {
		st, err := s.admin.js.Stream(ctx, stream.PartitionName(0))
		if err != nil {
			return nil // the test fails: not a refusal
		}
		_, err = u.js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+st.CachedInfo().Config.Name, nil)
		return err
	})
	changed.Name, changed.Subjects = stream.PartitionName(2), []string{"wallet.2.>"}
	u.refused(t, "create a stream", func(ctx context.Context) error {
		_, err := u.js.CreateStream(ctx, changed)
		return err
	})
	u.refused(t, "create a bucket", func(ctx context.Context) error {
		_, err := u.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "intruder"})
		return err
	})
	u.refused(t, "delete a bucket", func(ctx context.Context) error {
		return u.js.DeleteKeyValue(ctx, provision.LedgerLeaseBucket)
	})
	// Nothing changed: the services' configuration still verifies.
	if err := provision.Verify(ctxT(t), s.admin.js, provision.All(s.settings), 0, quiet()); err != nil {
		t.Fatalf("after %s's refused requests: %v", u.name, err)
	}
}

func TestLedgerPermissions(t *testing.T) {
	s := newAuthStack(t)
	s.own(t, s.ledger, "ledger")
	s.notOthers(t, s.ledger, s.account, "saga")
	s.notStreams(t, s.ledger)
	s.ledger.publishRefused(t, "wallet.0.transfer.debited.0")
	s.ledger.publishRefused(t, "saga.0.transfer.debited.0")
	s.ledger.publishRefused(t, "$KV.wallet_placement.map")
	s.ledger.publishRefused(t, "$KV.wallet_relay_leases.db1")
	kv, err := s.ledger.js.KeyValue(ctxT(t), provision.LedgerLeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctxT(t), "0", []byte("ledger-1")); err != nil {
		t.Fatalf("the ledger takes a partition lease: %v", err)
	}
}

func TestAccountPermissions(t *testing.T) {
	s := newAuthStack(t)
	s.own(t, s.account, "saga")
	s.notOthers(t, s.account, s.ledger, "ledger")
	s.notStreams(t, s.account)
	s.account.publishRefused(t, "wallet.0.transfer.debited.0")
	s.account.publishRefused(t, "saga.0.transfer.debited.0")
	s.account.publishRefused(t, "$KV.wallet_ledger_leases.0")
	s.account.publishRefused(t, "$KV.wallet_relay_leases.db1")
	kv, err := s.account.js.KeyValue(ctxT(t), "wallet_placement")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctxT(t), "map", []byte("{}")); err != nil {
		t.Fatalf("account-service writes the placement: %v", err)
	}
}

func TestRelayPermissions(t *testing.T) {
	s := newAuthStack(t)
	s.notStreams(t, s.relay)
	s.notOthers(t, s.relay, s.ledger, "ledger")
	s.relay.publishRefused(t, "$KV.wallet_ledger_leases.0")
	s.relay.publishRefused(t, "$KV.wallet_placement.map")
	if err := provision.Verify(ctxT(t), s.relay.js, provision.Streams(s.settings), 0, quiet()); err != nil {
		t.Fatalf("the relay verifies the streams: %v", err)
	}
	kv, err := s.relay.js.KeyValue(ctxT(t), "wallet_relay_leases")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctxT(t), "db1", []byte("relay-1")); err != nil {
		t.Fatalf("the relay takes a lease: %v", err)
	}
}

// Each service verifies what it uses with its own user, as it does at
// start; the admin provisions but publishes no event.
func TestAdminPermissions(t *testing.T) {
	s := newAuthStack(t)
	s.admin.publishRefused(t, "wallet.0.transfer.debited.0")
	s.admin.publishRefused(t, "saga.0.transfer.debited.0")
	for _, u := range []user{s.account, s.ledger} {
		if err := provision.Verify(ctxT(t), u.js, append(provision.Streams(s.settings), provision.Advisories(s.settings), provision.Placement(s.settings)), 0, quiet()); err != nil {
			t.Fatalf("%s verifies: %v", u.name, err)
		}
	}
	if err := provision.Verify(ctxT(t), s.ledger.js, []provision.Resource{provision.LedgerLeases(s.settings)}, 0, quiet()); err != nil {
		t.Fatalf("ledger verifies its leases: %v", err)
	}
	if err := provision.Verify(ctxT(t), s.relay.js, []provision.Resource{provision.RelayLeases(s.settings), provision.Placement(s.settings)}, 0, quiet()); err != nil {
		t.Fatalf("relay verifies its leases: %v", err)
	}
}
