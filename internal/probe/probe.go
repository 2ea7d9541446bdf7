// Package probe checks a running rtcd deployment the way a user's browser
// would meet it: the web page, the WebSocket, hello and TURN credentials,
// every STUN and TURN address the server hands out, and finally a real
// relay-only call between two Go peers. Each check gets a plain-words hint
// when it fails, so an operator knows what to fix.
//
// The check names follow the web app's /diag page (web/static/js/diag.js):
// "STUN host:port UDP", "TURN host:port UDP|TCP|TLS", "Test call through
// the relay".
package probe

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Options configure Run.
type Options struct {
	// URL of the deployment: http(s)://host[:port] (the web app) or the
	// ws(s):// signaling URL.
	URL string
	// JSON selects the JSON renderer in Render (the CLI's --json).
	JSON bool
	// Timeout bounds the whole run. Defaults to 45 seconds.
	Timeout time.Duration
	// CheckTimeout bounds each network check. Defaults to 5 seconds; the
	// test call gets three times as long.
	CheckTimeout time.Duration
	// Origin, when set, is sent as the WebSocket Origin header, to test the
	// server's origin policy as a page from that origin would.
	Origin string
	// Token is a join token for servers in token mode.
	Token string
	// RootCAs, when set, replaces the system roots for every TLS check
	// (HTTPS, WSS, TURN over TLS): for deployments on a private CA, and tests.
	// The test call's own TURN-over-TLS (pion) always uses the system roots.
	RootCAs *x509.CertPool
	// Room for the test call; defaults to a random "rtcd-probe-…" name.
	// In token mode it must be a room the token allows.
	Room string
	// Trace, when set, receives the test call's negotiation trace (offers,
	// answers, candidates, ICE and connection states), one line each: what
	// to look at when the call check fails. The CLI's --trace is stderr.
	Trace io.Writer
}

// Check is the result of one check.
type Check struct {
	Name     string        `json:"name"`
	OK       bool          `json:"ok"`
	Skipped  bool          `json:"skipped,omitempty"`
	Duration time.Duration `json:"-"`
	// DurationMS is Duration in milliseconds, for the JSON form.
	DurationMS float64 `json:"durationMs"`
	// Detail says what was seen when it worked (or why it was skipped).
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
	// Hint is plain-words advice for a failure.
	Hint string `json:"hint,omitempty"`
}

// Report is the outcome of Run.
type Report struct {
	URL      string        `json:"url"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"`
	// DurationMS is Duration in milliseconds, for the JSON form.
	DurationMS float64 `json:"durationMs"`
	OK         bool    `json:"ok"`
	Checks     []Check `json:"checks"`
}

// Failed counts the checks that failed (skipped ones do not).
func (r Report) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if !c.OK && !c.Skipped {
			n++
		}
	}
	return n
}

// ExitCode is the process exit status for the report: 0 when every check
// passed, 1 otherwise.
func (r Report) ExitCode() int {
	if r.OK {
		return 0
	}
	return 1
}

// ErrBadURL reports an unusable Options.URL; Run returns it before any check.
var ErrBadURL = errors.New("probe: bad URL")

// target is the deployment's addresses derived from Options.URL.
type target struct {
	httpURL string // base page
	wsURL   string // signaling
	host    string // host name, for TLS server names
}

func parseTarget(raw string) (target, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("%w %q: %v", ErrBadURL, raw, err)
	}
	if u.Host == "" {
		return target{}, fmt.Errorf("%w %q: no host", ErrBadURL, raw)
	}
	h, w := *u, *u
	switch u.Scheme {
	case "http", "ws":
		h.Scheme, w.Scheme = "http", "ws"
	case "https", "wss":
		h.Scheme, w.Scheme = "https", "wss"
	default:
		return target{}, fmt.Errorf("%w %q: scheme must be http, https, ws or wss", ErrBadURL, raw)
	}
	h.RawQuery, w.RawQuery = "", ""
	if u.Scheme == "ws" || u.Scheme == "wss" {
		h.Path = strings.TrimSuffix(u.Path, "/ws")
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if w.Path == "" || w.Path == "/" || u.Scheme == "http" || u.Scheme == "https" {
		w.Path = strings.TrimSuffix(h.Path, "/") + "/ws"
	}
	return target{httpURL: h.String(), wsURL: w.String(), host: u.Hostname()}, nil
}

// Run performs every check in order and returns the report. It returns an
// error only for unusable options; failed checks are in the report.
func Run(ctx context.Context, opts Options) (Report, error) {
	tg, err := parseTarget(opts.URL)
	if err != nil {
		return Report{}, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 45 * time.Second
	}
	if opts.CheckTimeout <= 0 {
		opts.CheckTimeout = 5 * time.Second
	}
	if opts.Room == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		opts.Room = "rtcd-probe-" + hex.EncodeToString(b)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	r := &runner{opts: opts, tg: tg, rep: Report{URL: opts.URL, Started: time.Now()}}
	r.run(ctx)
	r.rep.Duration = time.Since(r.rep.Started)
	r.rep.DurationMS = ms(r.rep.Duration)
	r.rep.OK = r.rep.Failed() == 0 && len(r.rep.Checks) > 0
	return r.rep, nil
}

type runner struct {
	opts  Options
	tg    target
	rep   Report
	ws    *websocket.Conn // from checkWebSocket to checkHello
	hello *helloInfo
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// check runs fn with a deadline and records it. fn returns a detail on
// success, or an error; hint turns that error into advice.
func (r *runner) check(ctx context.Context, name string, timeout time.Duration,
	fn func(ctx context.Context) (string, error), hint func(error) string) bool {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	detail, err := fn(cctx)
	c := Check{Name: name, OK: err == nil, Duration: time.Since(start), Detail: detail}
	c.DurationMS = ms(c.Duration)
	if err != nil {
		c.Error = err.Error()
		c.Hint = hint(err)
	}
	r.rep.Checks = append(r.rep.Checks, c)
	return err == nil
}

func (r *runner) skip(name, why string) {
	r.rep.Checks = append(r.rep.Checks, Check{Name: name, Skipped: true, Detail: why})
}

func (r *runner) run(ctx context.Context) {
	to := r.opts.CheckTimeout
	r.check(ctx, "HTTP", to, r.checkHTTP, hintHTTP)
	if !r.check(ctx, "WebSocket", to, r.checkWebSocket, hintWebSocket) {
		r.skip("Hello and credentials", "the WebSocket did not open")
		r.skip("Test call through the relay", "the WebSocket did not open")
		return
	}
	if !r.check(ctx, "Hello and credentials", to, r.checkHello, hintHello) {
		r.skip("Test call through the relay", "no hello reply, so no STUN/TURN addresses to test")
		return
	}
	turnOK, tlsSeen := false, false
	for _, s := range r.hello.servers {
		for _, raw := range s.URLs {
			ep, err := parseEndpoint(raw)
			if err != nil {
				r.check(ctx, "ICE server "+raw, to, func(context.Context) (string, error) { return "", err }, hintURL)
				continue
			}
			switch {
			case ep.stun:
				r.check(ctx, ep.name(), to, func(ctx context.Context) (string, error) { return stunBinding(ctx, ep) },
					hintSTUN)
			default:
				if ep.transport == "TLS" {
					tlsSeen = true
				}
				user, pass := s.Username, s.Credential
				if r.check(ctx, ep.name(), to, func(ctx context.Context) (string, error) {
					return turnAllocate(ctx, ep, user, pass, r.tg.host, r.opts.RootCAs)
				}, func(err error) string { return hintTURN(ep, err) }) {
					turnOK = true
				}
			}
		}
	}
	if !tlsSeen {
		r.skip("TURN TLS", "the server offers no turns: URL (TURN over TLS is not configured). "+
			"People on networks that only allow web traffic (some offices, hotels) may not connect.")
	}
	if !turnOK {
		r.skip("Test call through the relay", "no TURN allocation worked")
		return
	}
	r.check(ctx, "Test call through the relay", 3*to, r.checkCall, hintCall)
}

func (r *runner) checkHTTP(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.tg.httpURL, nil)
	if err != nil {
		return "", err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: r.tlsConfig(), Proxy: http.ProxyFromEnvironment}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", r.tg.httpURL, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 500 {
		return "", fmt.Errorf("GET %s: HTTP %d", r.tg.httpURL, resp.StatusCode)
	}
	return fmt.Sprintf("GET %s: HTTP %d", r.tg.httpURL, resp.StatusCode), nil
}

// tlsConfig is the client TLS configuration for every check.
func (r *runner) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: r.opts.RootCAs, MinVersion: tls.VersionTLS12}
}

// isTimeout reports whether err is a deadline or network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func isRefused(err error) bool {
	return strings.Contains(err.Error(), "connection refused")
}
