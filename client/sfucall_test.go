package client

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/proto"
)

// TestSFUCallThroughDaemon: three Go clients in a media server room each
// get one connection, to the server, and receive the other two's video
// through it; once directly, once relay-only through TURN over TCP.
func TestSFUCallThroughDaemon(t *testing.T) {
	c := config.Default()
	c.Signal.Media = signal.MediaSFU
	d := daemontest.Start(t, c)
	for _, tc := range []struct {
		name       string
		relay      bool
		transports []string
	}{{"direct", false, nil}, {"relay-tcp", true, []string{TransportTCP}}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			room := fmt.Sprintf("sfu-%s-%d", tc.name, time.Now().UnixNano())
			var clients []*Client
			for i := range 3 {
				cl, err := Dial(ctx, Config{URL: d.HTTPURL(), Name: fmt.Sprintf("go-%d", i), Video: true,
					RelayOnly: tc.relay, TURNTransports: tc.transports})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cl.Close() })
				if _, err := cl.Join(ctx, room); err != nil {
					t.Fatal(err)
				}
				if m := cl.MediaMode(); m != proto.MediaSFU {
					t.Fatalf("media mode %q, want sfu", m)
				}
				clients = append(clients, cl)
			}
			var wg sync.WaitGroup
			res := make([]SFUCallResult, len(clients))
			errs := make([]error, len(clients))
			for i, cl := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res[i], errs[i] = RunSFUCall(ctx, cl, SFUCallOptions{MinRTP: 60, Tracks: 2})
				}()
			}
			wg.Wait()
			for i, r := range res {
				if errs[i] != nil {
					t.Fatalf("client %d: %v", i, errs[i])
				}
				if r.Path.Relayed() != tc.relay {
					t.Errorf("client %d: path %s, want relayed %v", i, r.Path.Kind(), tc.relay)
				}
				if peers := clients[i].Peers(); len(peers) != 1 || peers[0] != proto.SFUPeer {
					t.Errorf("client %d: connections %v, want only the media server's", i, peers)
				}
				t.Logf("client %d: %s in %s, %d RTP packets on %d tracks, %d lost", i, r.Path.Kind(),
					r.Connected.Round(time.Millisecond), r.Media.PacketsReceived, r.Media.Tracks, r.Media.PacketsLost)
			}
		})
	}
}
