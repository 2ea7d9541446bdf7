package clustertest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/daemon"
)

// TestBadClusterConfig: mistakes are refused before anything listens, with
// the field named.
func TestBadClusterConfig(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.Config)
		want string
	}{
		{"no shared TURN secret", func(c *config.Config) { c.Auth.Secrets = []string{""} }, "Auth.Secrets"},
		{"bad node id", func(c *config.Config) { c.Cluster.NodeID = "a/b" }, "Cluster.NodeID"},
		{"ttl under two heartbeats", func(c *config.Config) { c.Cluster.NodeTTL = c.Cluster.HeartbeatInterval }, "Cluster.NodeTTL"},
		{"ice choice", func(c *config.Config) { c.Cluster.ICEServers = "mine" }, "Cluster.ICEServers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := nodeConfig("127.0.0.1:1", "n1")
			tt.mod(&c)
			_, err := daemon.New(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("daemon.New: %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// TestBadClusterMessages: junk on the cluster channels (a buggy or foreign
// publisher) is logged and dropped; the nodes keep serving.
func TestBadClusterMessages(t *testing.T) {
	r, _, n2, a, b := twoNodesOneRoom(t)

	rdb := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	junk := []string{
		``, `{`, `[]`, `null`, `"x"`, `{"t":5}`, `{"t":"nope","node":"zz"}`,
		`{"t":"join","node":"zz","room":"room"}`,                       // no member
		`{"t":"join","node":"zz","room":"room","member":{"id":"p_x"}}`, // member without node
		`{"t":"upd","node":"zz","room":"room","member":{"id":"","node":"zz"}}`,
		`{"t":"move","node":"zz","room":"room","member":{"id":"p_y","node":"n1"}}`,
		`{"t":"join","node":"zz","room":"other","member":{"id":"p_x"}}`,   // room not here
		`{"t":"leave","node":"zz","room":"room","id":"` + b.peerID + `"}`, // wrong owner
		`{"t":"sync","node":"zz","room":"room","members":"x"}`,
		`{"t":"snap","req":"nope","members":[]}`,
		`{"t":"sig","node":"zz","to":"p_nobody","room":"room","msg":{}}`,
		`{"t":"sig","node":"zz","to":"` + a.peerID + `","room":"elsewhere","msg":{}}`,
		`{"t":"take","node":"zz","req":"q","tok":"r_bogus.n1"}`,
		`{"t":"handed","node":"zz","req":"nope","ok":true}`,
	}
	for _, ch := range []string{"rtcd:events", "rtcd:to:n1", "rtcd:to:n2"} {
		for _, j := range junk {
			if err := rdb.Publish(ctx, ch, j).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.quiet(3 * hbInterval) // none of it is visible
	b.quiet(3 * hbInterval)
	if ttl, err := rdb.PTTL(ctx, "rtcd:room:room").Result(); err != nil || ttl <= 0 {
		t.Fatalf("room hash TTL %v %v: Redis must forget rooms no node refreshes", ttl, err)
	}
	// A garbage room entry must not break joins (nor count as a member).
	if err := rdb.HSet(ctx, "rtcd:room:room", "p_junk", "not json").Err(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, n2.WSURL(), "c")
	if j := c.join("room"); len(j.peerIDs()) != 2 {
		t.Fatalf("c joined %v", j)
	}
	a.wait("peer-joined")
	b.wait("peer-joined")
	a.signal(b.peerID, 1)
	if m := b.wait("signal"); seqOf(m) != 1 {
		t.Fatalf("%v", m)
	}
	a.quiet(3 * hbInterval)
	b.quiet(3 * hbInterval)
}

// TestClusterConfigLoads: the Cluster section loads through go-zero's
// config loader with its defaults, and the password comes from the
// environment.
func TestClusterConfigLoads(t *testing.T) {
	t.Setenv("RTCD_REDIS_PASSWORD", "from-env")
	t.Setenv("RTCD_TURN_SECRET", "shared-secret")
	dir := t.TempDir()
	path := dir + "/rtcd.yaml"
	yaml := `Name: rtcd
Port: 8080
Auth:
  Secrets: ["${RTCD_TURN_SECRET}"]
Cluster:
  Enabled: true
  RedisAddr: 10.0.0.5:6379
  RedisPassword: "${RTCD_REDIS_PASSWORD}"
  NodeID: node-a
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Cluster
	if !cl.Enabled || cl.RedisAddr != "10.0.0.5:6379" || cl.RedisPassword != "from-env" || cl.NodeID != "node-a" ||
		cl.HeartbeatInterval != 2*time.Second || cl.NodeTTL != 10*time.Second || cl.RedisTimeout != time.Second ||
		cl.ICEServers != "own" || cl.KeyPrefix != "rtcd" {
		t.Fatalf("loaded %+v", cl)
	}
	// Absent, the section is off.
	if err := os.WriteFile(path, []byte("Name: rtcd\nPort: 8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = config.Load(path); err != nil || c.Cluster.Enabled {
		t.Fatalf("no Cluster section: %+v %v", c.Cluster, err)
	}
}

// TestRedisPassword: RedisPassword authenticates; a wrong one leaves the
// node serving alone and not ready, without the password in what it says.
func TestRedisPassword(t *testing.T) {
	const pw = "s3cret-redis-pw"
	r := startRedis(t, "--requirepass", pw)
	good := startNode(t, r.addr(), "n1", func(c *config.Config) { c.Cluster.RedisPassword = pw })
	if code, body := readyz(t, good.HTTPURL()); code != 200 {
		t.Fatalf("readyz %d %q", code, body)
	}
	c := nodeConfig(r.addr(), "n2")
	c.Cluster.RedisPassword = "wrong-" + pw
	bad := startPlain(t, c)
	time.Sleep(3 * hbInterval)
	code, body := readyz(t, bad)
	if code != 503 || strings.Contains(body, pw) {
		t.Fatalf("readyz with a wrong password: %d %q", code, body)
	}
	t.Logf("readyz: %s", strings.TrimSpace(body))
}
