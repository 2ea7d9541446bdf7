package sfu

import (
	"testing"
	"time"
)

// TestBandwidthCap checks the estimate's cap: a REMB under the sending rate
// that does not fall (Chromium's climbing from its start) sets none, a
// falling one caps, reports without congestion raise the cap at most once
// per capGrowEvery, a REMB well above the sending rate lifts it, and heavy
// loss caps under the sending rate.
func TestBandwidthCap(t *testing.T) {
	var b bandwidth
	now := time.Unix(1000, 0)
	b.remb(60_000, 140_000, now)
	b.remb(120_000, 185_000, now)
	if got := b.estimate(); got != 0 {
		t.Fatalf("climbing REMB under the sending rate: estimate %d, want no cap", got)
	}
	b.remb(100_000, 185_000, now)
	if got := b.estimate(); got != 100_000 {
		t.Fatalf("falling REMB: estimate %d, want 100000", got)
	}
	now = now.Add(time.Second)
	b.loss(0, 100_000, now)
	b.loss(0, 100_000, now) // a second track's report at once: no second step
	if got := b.estimate(); got != 108_000 {
		t.Fatalf("no loss: estimate %d, want 108000", got)
	}
	now = now.Add(time.Second)
	b.remb(400_000, 120_000, now)
	if got := b.estimate(); got != 400_000 {
		t.Fatalf("REMB well above the sending rate: estimate %d, want 400000", got)
	}
	b.loss(0.5, 400_000, now)
	if got := b.estimate(); got != 300_000 {
		t.Fatalf("50%% loss at 400000: estimate %d, want 300000", got)
	}
	b.remb(200e6, 300_000, now.Add(time.Second))
	if got := b.estimate(); got != 0 {
		t.Fatalf("REMB above capNone: estimate %d, want no cap", got)
	}
}
