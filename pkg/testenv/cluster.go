package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a JetStream cluster of embedded servers on loopback, each with
// its own store directory. A node can be stopped and restarted with the
// same ports and store, as a crashed and restarted machine would be.
type Cluster struct {
	t       testing.TB
	opts    []*server.Options
	Servers []*server.Server // Servers[i] is node i's current server
}

// NATSCluster starts n JetStream servers (named n0, n1, …) routed to each
// other in cluster "wallet" and shuts them down when the test ends. It
// returns once every node accepts connections, not once JetStream elected
// a meta leader: clients must cope with a cluster that is still forming.
func NATSCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := FreePorts(t, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i])
	}
	c := &Cluster{t: t, Servers: make([]*server.Server, n)}
	for i := range n {
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "wallet", Host: "127.0.0.1", Port: ports[n+i]},
			Routes:  server.RoutesFromStr(strings.Join(append(append([]string{}, routes[:i]...), routes[i+1:]...), ",")),
			NoLog:   true, NoSigs: true,
		})
	}
	t.Cleanup(func() {
		for _, s := range c.Servers {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	for i := range n {
		c.Servers[i] = c.newServer(i)
	}
	for i := range n {
		c.waitReady(i)
	}
	return c
}

func (c *Cluster) newServer(i int) *server.Server {
	c.t.Helper()
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("testenv: nats node %d: %v", i, err)
	}
	go s.Start()
	return s
}

func (c *Cluster) waitReady(i int) {
	c.t.Helper()
	if !c.Servers[i].ReadyForConnections(20 * time.Second) {
		c.t.Fatalf("testenv: nats node %d did not start", i)
	}
}

// URLs is every node's client URL, comma separated, as nats.Connect and
// the nats.url setting take it.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.opts))
	for i, o := range c.opts {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", o.Port)
	}
	return strings.Join(urls, ",")
}

// Node is the index of the server named name (as stream info's
// Cluster.Leader names it), or -1.
func (c *Cluster) Node(name string) int {
	for i, o := range c.opts {
		if o.ServerName == name {
			return i
		}
	}
	return -1
}

// Stop shuts node i down and waits until it has.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Restart starts node i again with its ports and store directory.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Servers[i] = c.newServer(i)
	c.waitReady(i)
}
