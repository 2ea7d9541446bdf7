package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/testharness"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
)

func TestMain(m *testing.M) {
	testharness.VerifyTestMain(m)
}

func run(t *testing.T, opts Options) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if opts.CheckTimeout == 0 {
		opts.CheckTimeout = 3 * time.Second
	}
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var text bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", text.String())
	return rep
}

func find(t *testing.T, rep Report, prefix string) []Check {
	t.Helper()
	var out []Check
	for _, c := range rep.Checks {
		if strings.HasPrefix(c.Name, prefix) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no check named %q*", prefix)
	}
	return out
}

func TestProbeGreen(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	rep := run(t, Options{URL: d.HTTPURL()})
	if !rep.OK || rep.ExitCode() != 0 {
		t.Fatalf("want all green, %d failed", rep.Failed())
	}
	for _, prefix := range []string{"HTTP", "WebSocket", "Hello and credentials", "STUN ", "TURN 127.0.0.1",
		"Test call through the relay"} {
		for _, c := range find(t, rep, prefix) {
			if !c.OK {
				t.Errorf("%s: not ok: %s", c.Name, c.Error)
			}
		}
	}
	if len(find(t, rep, "TURN 127.0.0.1")) != 2 {
		t.Errorf("want TURN UDP and TCP checks")
	}
	// No turns: URL: the TLS check is skipped, saying why, and does not fail.
	if c := find(t, rep, "TURN TLS")[0]; !c.Skipped || c.Detail == "" {
		t.Errorf("TURN TLS: want skipped with a reason, got %+v", c)
	}
	var js bytes.Buffer
	if err := Render(&js, rep, true); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || !back.OK || len(back.Checks) != len(rep.Checks) {
		t.Fatalf("JSON round trip: %v, %+v", err, back)
	}
}

// TestMainTrace runs the CLI with --trace against a live daemon: the report
// goes to stdout, the test call's negotiation trace to stderr.
func TestMainTrace(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{d.HTTPURL(), "--trace"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	trace := errb.String()
	for _, want := range []string{"probe peer 0: ", "probe peer 1: ", "send offer", "send answer", "send candidate", "connection connected"} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, trace)
		}
	}
	if strings.Contains(out.String(), "send offer") {
		t.Error("the trace went to stdout")
	}
}

func TestProbeTURNDown(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	d.Relay().Stop() // signaling still hands out the TURN URLs; nothing answers there
	rep := run(t, Options{URL: d.HTTPURL(), CheckTimeout: 1500 * time.Millisecond})
	if rep.OK || rep.ExitCode() == 0 {
		t.Fatal("want a failure with TURN down")
	}
	for _, c := range find(t, rep, "TURN 127.0.0.1") {
		if c.OK || c.Hint == "" {
			t.Errorf("%s: want failure with hint, got %+v", c.Name, c)
		}
	}
	if c := find(t, rep, "Test call through the relay")[0]; !c.Skipped {
		t.Errorf("test call: want skipped when no allocation works, got %+v", c)
	}
	for _, name := range []string{"HTTP", "WebSocket", "Hello and credentials"} {
		if c := find(t, rep, name)[0]; !c.OK {
			t.Errorf("%s: want ok, got %+v", name, c)
		}
	}
}

func TestProbeDeadDaemon(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	url := d.HTTPURL()
	d.Stop()
	rep := run(t, Options{URL: url, CheckTimeout: time.Second})
	if rep.OK {
		t.Fatal("want failure")
	}
	if c := rep.Checks[0]; c.Name != "HTTP" || c.OK || !strings.Contains(c.Hint, "Nothing listens") {
		t.Fatalf("HTTP check: %+v", c)
	}
	if c := find(t, rep, "WebSocket")[0]; c.OK || c.Hint == "" {
		t.Fatalf("WebSocket check: %+v", c)
	}
}

func TestProbeBadOrigin(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	rep := run(t, Options{URL: d.HTTPURL(), Origin: "https://evil.example"})
	c := find(t, rep, "WebSocket")[0]
	if c.OK || !strings.Contains(c.Hint, "AllowOrigins") {
		t.Fatalf("WebSocket with a foreign origin: want refusal with hint, got %+v", c)
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, http, ws string
		err          bool
	}{
		{in: "http://127.0.0.1:8080", http: "http://127.0.0.1:8080/", ws: "ws://127.0.0.1:8080/ws"},
		{in: "127.0.0.1:8080", http: "http://127.0.0.1:8080/", ws: "ws://127.0.0.1:8080/ws"},
		{in: "https://rtc.example.org/", http: "https://rtc.example.org/", ws: "wss://rtc.example.org/ws"},
		{in: "wss://rtc.example.org/ws", http: "https://rtc.example.org/", ws: "wss://rtc.example.org/ws"},
		{in: "ftp://x", err: true},
		{in: "http://", err: true},
	}
	for _, tt := range tests {
		tg, err := parseTarget(tt.in)
		if (err != nil) != tt.err {
			t.Fatalf("%s: err = %v", tt.in, err)
		}
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("%s: want ErrBadURL, got %v", tt.in, err)
			}
			continue
		}
		if tg.httpURL != tt.http || tg.wsURL != tt.ws {
			t.Fatalf("%s: got %s %s", tt.in, tg.httpURL, tg.wsURL)
		}
	}
}

func TestMainUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), nil, &out, &errb); code != 2 {
		t.Fatalf("no URL: exit %d", code)
	}
	if code := Main(context.Background(), []string{"ftp://x"}, &out, &errb); code != 2 {
		t.Fatalf("bad URL: exit %d", code)
	}
}

// TestProbeGreenTLS runs the daemon with HTTPS/WSS and TURN over TLS (on its
// own port and on the HTTPS port) from a test CA: every check, TLS included,
// is green when the probe trusts that CA, and TLS checks fail with a
// certificate hint when it does not.
func TestProbeGreenTLS(t *testing.T) {
	c := config.Default()
	ca := daemontest.WithTLS(t, &c, "localhost")
	d := daemontest.Start(t, c)

	rep := run(t, Options{URL: d.HTTPURL(), RootCAs: ca.Pool()})
	if !rep.OK {
		t.Fatalf("want all green over TLS, %d failed", rep.Failed())
	}
	tlsChecks := 0
	for _, ch := range rep.Checks {
		if strings.HasPrefix(ch.Name, "TURN localhost:") && strings.HasSuffix(ch.Name, " TLS") {
			tlsChecks++
		}
	}
	if tlsChecks != 2 {
		t.Fatalf("want two TURN TLS checks (TLSListen and OnePort), got %d", tlsChecks)
	}

	// Without the CA the page itself is refused, with a certificate hint.
	rep = run(t, Options{URL: d.HTTPURL(), CheckTimeout: time.Second})
	if rep.OK {
		t.Fatal("want failures without the CA")
	}
	if ch := rep.Checks[0]; ch.OK || !strings.Contains(ch.Hint, "certificate") {
		t.Fatalf("HTTP without the CA: %+v", ch)
	}
}
