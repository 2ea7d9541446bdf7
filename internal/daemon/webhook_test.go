package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
	"github.com/rtcd/rtcd/internal/webhook"
	"github.com/rtcd/rtcd/signal/proto"
)

// TestWebhooks: the real daemon posts a room's life, signed, to a receiver
// on loopback: started, joined, left, ended.
func TestWebhooks(t *testing.T) {
	const secret = "webhook-secret-0123456789"
	got := make(chan webhook.Event, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("delivery %s: %v", body, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e webhook.Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		got <- e
	}))
	defer recv.Close()
	c := config.Default()
	c.Webhooks.URLs = []string{recv.URL + "/rtcd"}
	c.Webhooks.Secret = secret
	d := daemontest.Start(t, c)

	ann := dialPeer(t, d, "Ann")
	ann.send(map[string]any{"v": 1, "type": proto.TypeJoin, "room": "hooks"})
	ann.next(proto.TypeJoined)
	ann.send(map[string]any{"v": 1, "type": proto.TypeLeave})
	ann.next(proto.TypeLeft)
	for _, want := range []string{"room.started", "participant.joined", "participant.left", "room.ended"} {
		select {
		case e := <-got:
			if e.Type != want || e.Room != "hooks" || (e.Participant != nil) != (want[0] == 'p') ||
				e.Participant != nil && (e.Participant.ID != ann.id || e.Participant.Name != "Ann") {
				t.Fatalf("event %+v, want %s", e, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
	if st := d.Webhooks(); st.Dropped != 0 || st.Failed != 0 {
		t.Fatalf("webhook stats %+v", st)
	}
}
