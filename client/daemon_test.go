package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
	"github.com/rtcd/rtcd/signal/proto"
)

// TestCallThroughDaemon is the end-to-end proof: two Go peers in one room of
// a real rtcd, relay only, a VP8 track and the data channel crossing the
// embedded TURN relay, once with TURN over UDP and once over TCP. Every data
// message is SHA-256 checked; loss and round trip are logged.
func TestCallThroughDaemon(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	for _, tr := range []string{TransportUDP, TransportTCP} {
		t.Run("turn-"+tr, func(t *testing.T) {
			callPair(t, d.HTTPURL(), []string{tr}, 300)
		})
	}
}

// TestJoinLockedRoom: in a room its host locked, Join says the client
// waits, and the host's admit brings the peers as events.
func TestJoinLockedRoom(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var cs [2]*Client
	for i := range cs {
		c, err := Dial(ctx, Config{URL: d.HTTPURL(), Name: fmt.Sprintf("go-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		cs[i] = c
	}
	if _, err := cs[0].Join(ctx, "locked"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs[0].request(ctx, proto.ClientMessage{Type: proto.TypeHost, Action: proto.ActionLock}); err != nil {
		t.Fatalf("lock: %v", err)
	}
	if _, err := cs[1].Join(ctx, "locked"); !errors.Is(err, ErrWaiting) {
		t.Fatalf("join of a locked room: %v, want ErrWaiting", err)
	}
	if _, err := cs[0].request(ctx, proto.ClientMessage{Type: proto.TypeHost, Action: proto.ActionAdmit, Target: cs[1].PeerID()}); err != nil {
		t.Fatalf("admit: %v", err)
	}
	for {
		select {
		case e := <-cs[1].Events():
			if e.Kind == EventPeerJoined && e.Peer == cs[0].PeerID() {
				return
			}
		case <-ctx.Done():
			t.Fatal("no peer-joined after the admit")
		}
	}
}
