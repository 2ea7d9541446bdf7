package clustertest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtcd/rtcd/internal/redistest"
)

// TestBadClusterMessages: junk on the cluster channels (a buggy or foreign
// publisher) is logged and dropped; the nodes keep serving.
func TestBadClusterMessages(t *testing.T) {
	r, _, n2, a, b := twoNodesOneRoom(t)

	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
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
	c := dial(t, n2.wsURL(), "c")
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

// TestRedisPassword: RedisPassword authenticates; a wrong one leaves the
// node serving alone and not ready, without the password in what it says.
func TestRedisPassword(t *testing.T) {
	const pw = "s3cret-redis-pw"
	r := redistest.Run(t, "--requirepass", pw)
	good := startNode(t, r.Addr(), "n1", func(c *nodeConfig) { c.Cluster.RedisPassword = pw })
	if err := good.hub.Ready(); err != nil {
		t.Fatalf("ready: %v", err)
	}
	c := defaultConfig(r.Addr(), "n2")
	c.Cluster.RedisPassword = "wrong-" + pw
	bad := runNode(t, c)
	time.Sleep(3 * hbInterval)
	err := bad.hub.Ready()
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Fatalf("readiness with a wrong password: %v", err)
	}
	t.Logf("not ready: %v", err)
}
