package testharness

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// watchdogMargin is how long before the package's -timeout the watchdog
// reports, so that its report comes before the testing package's panic.
const watchdogMargin = 30 * time.Second

// startWatchdog reports a hung test run shortly before go test's -timeout
// kills it. go test's own report puts the names of the running tests first
// and thousands of goroutine stacks after them, and a CI log that keeps only
// its tail loses the names. The watchdog prints every goroutine, the test
// goroutines last, then one line naming the tests still running, and exits
// with status 2. The returned func stops it.
func startWatchdog() func() {
	if !flag.Parsed() {
		flag.Parse()
	}
	f := flag.Lookup("test.timeout")
	if f == nil {
		return func() {}
	}
	timeout, err := time.ParseDuration(f.Value.String())
	if err != nil || timeout <= 2*watchdogMargin {
		return func() {}
	}
	t := time.AfterFunc(timeout-watchdogMargin, func() {
		fmt.Fprint(os.Stderr, hungReport(timeout-watchdogMargin))
		os.Exit(2)
	})
	return func() { t.Stop() }
}

// hungReport lists all goroutines, those running tests last, and ends with
// the names of the running tests.
func hungReport(after time.Duration) string {
	buf := make([]byte, 64<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var others, tests, names []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "testing.tRunner") {
			others = append(others, g)
			continue
		}
		tests = append(tests, g)
		if name := testName(g); name != "" {
			names = append(names, name)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nwatchdog: the tests have run for %v; all goroutines follow, the tests' last\n\n", after)
	b.WriteString(strings.Join(append(others, tests...), "\n\n"))
	fmt.Fprintf(&b, "\n\nwatchdog: still running after %v: %s\n", after, strings.Join(names, ", "))
	return b.String()
}

// testName is the test function a tRunner goroutine's stack runs: the frame
// just above testing.tRunner.
func testName(stack string) string {
	lines := strings.Split(stack, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "testing.tRunner(") && i >= 2 {
			fn := lines[i-2]
			if j := strings.LastIndex(fn, "("); j > 0 {
				fn = fn[:j]
			}
			return fn
		}
	}
	return ""
}
