package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
)

// BenchmarkPublishSync measures what "sync_interval: always" costs the
// relay's publishing: chunks of 250 asynchronous publishes of 600-byte
// events, each chunk's acks awaited, as outbox.Relay does, against a file
// store that syncs every 2 minutes (the default) or on every message.
//
//	go test ./stream -run - -bench PublishSync -benchtime 20000x
func BenchmarkPublishSync(b *testing.B) {
	for _, always := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync_always=%v", always), func(b *testing.B) {
			s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: b.TempDir(),
				NoLog: true, NoSigs: true, SyncAlways: always})
			if err != nil {
				b.Fatal(err)
			}
			go s.Start()
			if !s.ReadyForConnections(10 * time.Second) {
				b.Fatal("nats did not start")
			}
			defer s.Shutdown()
			nc, err := nats.Connect(s.ClientURL())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1000))
			if _, err := stream.Ensure(context.Background(), js, stream.Config{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 600)
			for i := range data {
				data[i] = 'x'
			}
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(250, b.N-done)
				futures := make([]jetstream.PubAckFuture, n)
				for i := range n {
					e := events.Event{ID: fmt.Sprintf("e-%d", done+i), Type: events.AccountDeposited, Source: "/bench", Subject: "a",
						Topic: events.Topic(events.AccountDeposited, 0), Time: time.Now(), Data: data}
					if futures[i], err = js.PublishMsgAsync(e.Msg(), jetstream.WithMsgID(e.ID)); err != nil {
						b.Fatal(err)
					}
				}
				for _, f := range futures {
					select {
					case <-f.Ok():
					case err := <-f.Err():
						b.Fatal(err)
					}
				}
				done += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
