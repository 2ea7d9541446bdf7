package metrics

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/rtcd/rtcd/internal/webhook"
)

// scrape gathers c alone and returns the text exposition.
func scrape(t *testing.T, c *Collector) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&out, mf); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}

// TestWebhookDeliveries: the webhook sender's outcomes are counters by a
// fixed result label, and neither receiver URLs (which may hold a token)
// nor rooms appear in the scrape.
func TestWebhookDeliveries(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer bad.Close()
	s, err := webhook.New(webhook.Config{URLs: []string{ok.URL + "/hook?token=hook-token", bad.URL},
		Secret: "metrics-test-secret-0123"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Send(webhook.Event{Type: "room.started", Room: "secret-room"})
	deadline := time.Now().Add(5 * time.Second)
	for st := s.Stats(); st.Delivered != 1 || st.Failed != 1; st = s.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	text := scrape(t, New(Source{Webhooks: func() *webhook.Sender { return s }}))
	for _, want := range []string{`rtcd_webhook_deliveries_total{result="ok"} 1`,
		`rtcd_webhook_deliveries_total{result="failed"} 1`, `rtcd_webhook_deliveries_total{result="dropped"} 0`,
		"rtcd_webhook_retries_total 0"} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	for _, secret := range []string{"hook-token", "secret-room", "127.0.0.1"} {
		if strings.Contains(text, secret) {
			t.Errorf("scrape exposes %q", secret)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}

	// Webhooks off: no series.
	if text := scrape(t, New(Source{Webhooks: func() *webhook.Sender { return nil }})); strings.Contains(text, "rtcd_webhook") {
		t.Errorf("webhooks off, scrape has:\n%s", text)
	}
}
