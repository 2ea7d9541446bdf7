// Package testharness holds what rtcd's tests share and what needs nothing of
// rtcd itself, so any package's tests can import it: the one goroutine-leak
// check (goleak with go-zero's process-long goroutines ignored, so every
// package checks the same thing) and a buffer safe for concurrent writers.
// Starting a whole daemon is in internal/testharness/daemontest.
package testharness

import (
	"testing"

	"go.uber.org/goleak"
)

// GoZero ignores the goroutines go-zero starts once per process (signal
// handling, CPU and shedding stats, log flushing) and never stops.
var GoZero = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/zeromicro/go-zero/core/proc.init.1.func1"),
	goleak.IgnoreAnyFunction("github.com/zeromicro/go-zero/core/stat.init.1.func1"),
	goleak.IgnoreAnyFunction("github.com/zeromicro/go-zero/core/load.(*SheddingStat).loop"),
	goleak.IgnoreAnyFunction("github.com/zeromicro/go-zero/core/executors.(*PeriodicalExecutor).backgroundFlush.func1"),
}

// VerifyTestMain runs the package's tests and fails the run if any
// goroutine other than go-zero's outlives them. A run about to hit go
// test's -timeout is reported by a watchdog that names the hung tests last
// (watchdog.go).
func VerifyTestMain(m *testing.M, extra ...goleak.Option) {
	stop := startWatchdog()
	goleak.VerifyTestMain(watchedM{m, stop}, append(append([]goleak.Option(nil), GoZero...), extra...)...)
}

// watchedM stops the watchdog once the tests have run, before goleak looks
// for leftover goroutines.
type watchedM struct {
	m    *testing.M
	stop func()
}

// Run runs the tests.
func (w watchedM) Run() int {
	defer w.stop()
	return w.m.Run()
}

// VerifyNone fails t if goroutines other than go-zero's and those running
// when ignore was taken (goleak.IgnoreCurrent) are left.
func VerifyNone(t testing.TB, extra ...goleak.Option) {
	t.Helper()
	goleak.VerifyNone(t, append(append([]goleak.Option(nil), GoZero...), extra...)...)
}

// Find reports goroutines other than go-zero's, for a TestMain that must
// do its own work around m.Run.
func Find(extra ...goleak.Option) error {
	return goleak.Find(append(append([]goleak.Option(nil), GoZero...), extra...)...)
}
