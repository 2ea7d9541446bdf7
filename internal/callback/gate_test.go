package callback

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestGateShut checks the gate itself: shut waits for a callback inside it,
// and a callback arriving after shut does not run.
func TestGateShut(t *testing.T) {
	var g Gate
	inside, release := make(chan struct{}), make(chan struct{})
	var ran atomic.Int32
	go Guard0(&g, func() { close(inside); <-release; ran.Add(1) })()
	<-inside
	shut := make(chan struct{})
	go func() { g.Shut(); close(shut) }()
	select {
	case <-shut:
		t.Fatal("shut returned while a callback was inside the gate")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-shut
	Guard(&g, func(int) { ran.Add(10) })(1)
	if got := ran.Load(); got != 1 {
		t.Fatalf("callbacks ran %d, want 1 (the one before shut)", got)
	}
}

// TestAfterFuncStopWaits checks that stop returns only once a running f has
// returned, and that f does not run when stop comes first.
func TestAfterFuncStopWaits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	stop := AfterFunc(ctx, func() { close(started); <-release; finished.Store(true) })
	cancel()
	<-started
	go func() { time.Sleep(10 * time.Millisecond); close(release) }()
	stop()
	if !finished.Load() {
		t.Fatal("stop returned while f was still running")
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	var ran atomic.Bool
	stop2 := AfterFunc(ctx2, func() { ran.Store(true) })
	stop2()
	cancel2()
	if ran.Load() {
		t.Fatal("f ran after stop")
	}
}
