package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// Field 2 holds a command with spaces and a ')' to prove fields count from the last ')'.
	stat := "4242 (turn) server) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 4 0 12345 100000 2000\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 380 * 10 * time.Millisecond; got != want {
		t.Fatalf("cpu = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 (x S 1 2", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 a b c d"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q): want error", bad)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	got, err := parseStatusRSS([]byte("Name:\tturnserver\nVmPeak:\t 9999 kB\nVmRSS:\t   15360 kB\n"))
	if err != nil || got != 15360 {
		t.Fatalf("rss = %d, %v", got, err)
	}
	for _, bad := range []string{"", "Name: x\n", "VmRSS: lots kB\n"} {
		if _, err := parseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("parseStatusRSS(%q): want error", bad)
		}
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSKiB <= 0 {
		t.Fatalf("own RSS %d KiB", s.RSSKiB)
	}
	if z, err := readProc(0); err != nil || z != (procSample{}) {
		t.Fatalf("pid 0 must be a no-op, got %+v %v", z, err)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Fatal("missing pid: want error")
	}
}
