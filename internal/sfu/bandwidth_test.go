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
	want := func(what string, est uint64) {
		t.Helper()
		if got := b.estimate(); got != est {
			t.Fatalf("%s: estimate %d, want %d (0: no cap)", what, got, est)
		}
	}
	b.remb(60_000, 140_000, now)
	b.remb(120_000, 185_000, now)
	want("climbing REMB under the sending rate", 0)
	b.remb(100_000, 185_000, now)
	want("falling REMB", 100_000)
	now = now.Add(time.Second)
	b.loss(0, 100_000, now)
	b.loss(0, 100_000, now) // a second track's report at once: no second step
	want("no loss", 108_000)
	now = now.Add(time.Second)
	b.remb(400_000, 120_000, now)
	want("REMB well above the sending rate", 400_000)
	b.loss(0.5, 400_000, now)
	want("50% loss at 400000", 300_000)
	b.remb(200e6, 300_000, now.Add(time.Second))
	want("REMB above capNone", 0)
}
