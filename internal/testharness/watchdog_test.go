package testharness

import (
	"strings"
	"testing"
	"time"
)

// TestHungReportNamesRunningTests: the report ends with the names of the
// tests running when it was taken, this one among them.
func TestHungReportNamesRunningTests(t *testing.T) {
	r := hungReport(time.Minute)
	lines := strings.Split(strings.TrimSpace(r), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "watchdog: still running after 1m0s: ") ||
		!strings.Contains(last, "testharness.TestHungReportNamesRunningTests") {
		t.Fatalf("last line %q does not name this test", last)
	}
	if !strings.Contains(r, "goroutine ") {
		t.Fatalf("report has no goroutine stacks:\n%s", r)
	}
}
