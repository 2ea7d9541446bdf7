package webhook

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcd/rtcd/internal/testharness"
)

func TestMain(m *testing.M) { testharness.VerifyTestMain(m) }

const secret = "webhook-secret-for-tests"

// delivery is one request a receiver got.
type delivery struct {
	event Event
	id    string
	err   error // of Verify
}

// receiver is an httptest server on loopback that verifies every delivery
// and answers with status(n) for the n-th request (1-based).
type receiver struct {
	srv  *httptest.Server
	got  chan delivery
	mu   sync.Mutex
	n    int
	hold chan struct{} // when set, requests wait for it to close
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{got: make(chan delivery, 64)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		d := delivery{id: req.Header.Get(HeaderDelivery)}
		d.err = Verify(secret, req.Header.Get(HeaderTimestamp), req.Header.Get(HeaderSignature), body, time.Now(), time.Minute)
		if err := json.Unmarshal(body, &d.event); err != nil && d.err == nil {
			d.err = err
		}
		if req.Header.Get(HeaderEvent) != d.event.Type || req.Header.Get("Content-Type") != "application/json" {
			d.err = io.ErrUnexpectedEOF
		}
		r.mu.Lock()
		r.n++
		n, hold := r.n, r.hold
		r.mu.Unlock()
		r.got <- d
		if hold != nil {
			select {
			case <-hold:
			case <-req.Context().Done():
			}
		}
		w.WriteHeader(status(n))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-r.got:
		if d.err != nil {
			t.Fatalf("delivery %+v: %v", d.event, d.err)
		}
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	return delivery{}
}

func newSender(t *testing.T, c Config) *Sender {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// waitStats polls the counters until cond holds (the sender counts after
// the receiver answered).
func waitStats(t *testing.T, s *Sender, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSignedDelivery(t *testing.T) {
	r := newReceiver(t, func(int) int { return http.StatusNoContent })
	s := newSender(t, Config{URLs: []string{r.srv.URL + "/hook?key=abc"}, Secret: secret})
	when := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s.Send(Event{Type: "participant.joined", Time: when, Room: "café", Participant: &Participant{ID: "p_a", Name: "Ann"}})
	d := r.next(t)
	if d.event.Type != "participant.joined" || d.event.Room != "café" || d.event.Participant.Name != "Ann" ||
		!d.event.Time.Equal(when) || !strings.HasPrefix(d.event.ID, "evt_") || d.id != d.event.ID {
		t.Fatalf("delivered %+v id %s", d.event, d.id)
	}
	waitStats(t, s, func(st Stats) bool { return st.Delivered == 1 })
}

func TestVerifyRefuses(t *testing.T) {
	body := []byte(`{"type":"room.started"}`)
	now := time.Unix(1_800_000_000, 0)
	ts := "1800000000"
	good := Sign(secret, ts, body)
	if err := Verify(secret, ts, good, body, now, time.Minute); err != nil {
		t.Fatalf("good: %v", err)
	}
	for name, c := range map[string]struct {
		secret, ts, sig string
		body            []byte
		want            error
	}{
		"other secret": {"another-secret-0123", ts, good, body, ErrBadSignature},
		"other body":   {secret, ts, good, []byte(`{"type":"room.ended"}`), ErrBadSignature},
		"other time":   {secret, "1800000001", good, body, ErrBadSignature},
		"stale":        {secret, "1799990000", Sign(secret, "1799990000", body), body, ErrStale},
		"no signature": {secret, ts, "", body, ErrBadSignature},
	} {
		if err := Verify(c.secret, c.ts, c.sig, c.body, now, time.Minute); err != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// TestRetriesAfter500: 5xx answers are retried with backoff until a 2xx;
// a 4xx is final.
func TestRetriesAfter500(t *testing.T) {
	r := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	s := newSender(t, Config{URLs: []string{r.srv.URL}, Secret: secret, Backoff: 10 * time.Millisecond})
	s.Send(Event{Type: "room.started", Room: "r"})
	first := r.next(t)
	for range 2 {
		if d := r.next(t); d.id != first.id {
			t.Fatalf("retry has id %s, the first %s", d.id, first.id)
		}
	}
	st := waitStats(t, s, func(st Stats) bool { return st.Delivered == 1 })
	if st.Retries != 2 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}

	bad := newReceiver(t, func(int) int { return http.StatusBadRequest })
	s2 := newSender(t, Config{URLs: []string{bad.srv.URL}, Secret: secret, Backoff: 10 * time.Millisecond})
	s2.Send(Event{Type: "room.ended", Room: "r"})
	bad.next(t)
	if st := waitStats(t, s2, func(st Stats) bool { return st.Failed == 1 }); st.Retries != 0 {
		t.Fatalf("4xx retried: %+v", st)
	}

	down := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	s3 := newSender(t, Config{URLs: []string{down.srv.URL}, Secret: secret, Backoff: time.Millisecond, Attempts: 3})
	s3.Send(Event{Type: "room.ended", Room: "r"})
	for range 3 {
		down.next(t)
	}
	if st := waitStats(t, s3, func(st Stats) bool { return st.Failed == 1 }); st.Retries != 2 || st.Delivered != 0 {
		t.Fatalf("given up: %+v", st)
	}
}

// TestFullQueueDrops: while a receiver hangs, Send never blocks: the queue
// fills and what does not fit is dropped and counted.
func TestFullQueueDrops(t *testing.T) {
	r := newReceiver(t, func(int) int { return http.StatusOK })
	hold := make(chan struct{})
	r.mu.Lock()
	r.hold = hold
	r.mu.Unlock()
	s := newSender(t, Config{URLs: []string{r.srv.URL}, Secret: secret, QueueSize: 2, Timeout: 10 * time.Second})
	s.Send(Event{Type: "participant.joined", Room: "r"})
	r.next(t) // the worker is inside its request now
	start := time.Now()
	for range 7 {
		s.Send(Event{Type: "participant.left", Room: "r"})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Send blocked %v", d)
	}
	if st := s.Stats(); st.Dropped != 5 {
		t.Fatalf("stats %+v, want 5 dropped (2 queued, 1 in flight)", st)
	}
	close(hold)
	for range 2 {
		r.next(t)
	}
	waitStats(t, s, func(st Stats) bool { return st.Delivered == 3 })
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{URLs: []string{"ftp://x"}, Secret: secret}, "Webhooks.URLs[0]"},
		{Config{URLs: []string{"http://127.0.0.1:9/h"}}, "Webhooks.Secret"},
		{Config{URLs: []string{"http://127.0.0.1:9/h"}, Secret: "short"}, "Webhooks.Secret"},
		{Config{QueueSize: -1}, "Webhooks.QueueSize"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("off: %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without receivers")
	}
}
