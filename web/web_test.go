package web

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp, string(b)
}

func client() *http.Client { return &http.Client{Timeout: 5 * time.Second} }

func TestRoutes(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name, path string
		status     int
		ctype      string
		contains   string
	}{
		{"home", "/", 200, "text/html; charset=utf-8", `src="/static/js/home.js"`},
		{"call page", "/r/team-42", 200, "text/html; charset=utf-8", `src="/static/js/call.js"`},
		{"call page trailing slash", "/r/team_42.x/", 200, "text/html; charset=utf-8", `id="grid"`},
		{"call page with query", "/r/test?name=Ann&relay=1", 200, "text/html; charset=utf-8", `id="controls"`},
		{"diag", "/diag", 200, "text/html; charset=utf-8", `src="/static/js/diag.js"`},
		{"script", "/static/js/call.js", 200, "text/javascript; charset=utf-8", "new Session("},
		{"module", "/static/js/signal.js", 200, "text/javascript; charset=utf-8", "export class Signaling"},
		{"protocol module", "/static/js/protocol.js", 200, "text/javascript; charset=utf-8", "export const MSG"},
		{"style", "/static/css/app.css", 200, "text/css; charset=utf-8", ".tile"},
		{"icon", "/static/img/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"favicon.ico", "/favicon.ico", 200, "image/svg+xml", "<svg"},
		{"unknown", "/nope", 404, "", ""},
		{"unknown asset", "/static/js/nope.js", 404, "", ""},
		{"static dir", "/static/js/", 404, "", ""},
		{"static root", "/static/", 404, "", ""},
		{"html via static", "/static/index.html", 404, "", ""},
		{"unicode room", "/r/caf%C3%A9", 200, "text/html; charset=utf-8", `id="grid"`},
		{"cjk room", "/r/%E4%BC%9A%E8%AD%B0%E5%AE%A4", 200, "text/html; charset=utf-8", `id="grid"`},
		// Bad room links get the call page, which explains, with a 404.
		{"bad room chars", "/r/a%20b", 404, "text/html; charset=utf-8", `src="/static/js/call.js"`},
		{"room too long", "/r/" + strings.Repeat("a", 65), 404, "text/html; charset=utf-8", `src="/static/js/call.js"`},
		{"empty room", "/r/", 404, "text/html; charset=utf-8", `src="/static/js/call.js"`},
		{"no room", "/r", 404, "text/html; charset=utf-8", `src="/static/js/call.js"`},
		{"nested room", "/r/a/b", 404, "text/html; charset=utf-8", `src="/static/js/call.js"`},
		{"dot room", "/r/..", 404, "text/html; charset=utf-8", `src="/static/js/call.js"`},
		{"api not ours", "/api/v1/ice-servers", 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, client(), srv.URL+tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type = %q, want %q", resp.Header.Get("Content-Type"), tc.ctype)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	srv := newServer(t)
	for _, p := range []string{"/", "/r/x", "/diag", "/static/js/call.js", "/missing"} {
		t.Run(p, func(t *testing.T) {
			resp, _ := get(t, client(), srv.URL+p)
			h := resp.Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self' ws: wss:",
				"media-src 'self' blob:", "img-src 'self' data:", "object-src 'none'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP allows unsafe sources: %q", csp)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", h.Get("X-Content-Type-Options"))
			}
			if h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("Referrer-Policy = %q", h.Get("Referrer-Policy"))
			}
			pp := h.Get("Permissions-Policy")
			for _, want := range []string{"camera=(self)", "microphone=(self)", "display-capture=(self)"} {
				if !strings.Contains(pp, want) {
					t.Errorf("Permissions-Policy %q lacks %q", pp, want)
				}
			}
		})
	}
}

// TestNoInlineScript keeps the pages compatible with the CSP: no inline
// <script> bodies, no on* handler attributes, no style attributes.
func TestNoInlineScript(t *testing.T) {
	srv := newServer(t)
	for _, p := range []string{"/", "/r/x", "/diag"} {
		_, body := get(t, client(), srv.URL+p)
		for _, bad := range []string{"<script>", "<script type=\"module\">", " onclick=", " onload=", " style=", "javascript:", "http://", "https://"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", p, bad)
			}
		}
	}
}

func TestMethods(t *testing.T) {
	srv := newServer(t)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, err := http.NewRequest(m, srv.URL+"/", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/static/js/call.js", nil)
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength <= 0 {
		t.Errorf("HEAD: status %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}

func TestETag(t *testing.T) {
	srv := newServer(t)
	resp, _ := get(t, client(), srv.URL+"/static/css/app.css")
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/static/css/app.css", nil)
	req.Header.Set("If-None-Match", etag)
	resp2, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: status %d, want 304", resp2.StatusCode)
	}
}

// rawGet sends the request line verbatim, so that neither the client nor
// net/url cleans the path before the handler sees it.
func rawGet(t *testing.T, addr, target string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestNoPathTraversal(t *testing.T) {
	srv := newServer(t)
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, target := range []string{
		"/static/../web.go",
		"/static/../../go.mod",
		"/static/%2e%2e/web.go",
		"/static/js/../../web.go",
		"/static/js/..%2f..%2fweb.go",
		"/static//etc/passwd",
		"/static/js\\..\\..\\web.go",
		"/static/./js/call.js",
		"/web.go",
		"/doc.go",
		"/static/static/js/call.js",
		"/r/../static/js/call.js",
	} {
		t.Run(target, func(t *testing.T) {
			code := rawGet(t, addr, target)
			// ServeMux-free handler: traversal must never yield a file outside the app.
			if code == 200 {
				t.Errorf("GET %s = 200, want an error", target)
			}
		})
	}
}

// TestHandlerDirect exercises the handler without a socket for paths that a
// real client cannot send (no leading slash).
func TestHandlerDirect(t *testing.T) {
	h := Handler()
	for _, p := range []string{"static/js/call.js", "..", ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = p
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("path %q: status %d, want 404", p, rec.Code)
		}
	}
}

// TestReferencedAssetsExist follows every /static/ reference in the pages and
// every relative import in the scripts, so a renamed file fails here rather
// than as a blank page in a browser.
func TestReferencedAssetsExist(t *testing.T) {
	h := Handler().(*handler)
	ref := regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)
	imp := regexp.MustCompile(`(?m)^import [^;]*? from '\./([^']+)';`)
	seen := 0
	for name, a := range h.assets {
		switch path.Ext(name) {
		case ".html":
			for _, m := range ref.FindAllStringSubmatch(string(a.body), -1) {
				seen++
				if _, ok := h.assets[strings.TrimPrefix(m[1], "/static/")]; !ok {
					t.Errorf("%s references missing %s", name, m[1])
				}
			}
		case ".js":
			for _, m := range imp.FindAllStringSubmatch(string(a.body), -1) {
				seen++
				target := path.Join(path.Dir(name), m[1])
				if _, ok := h.assets[target]; !ok {
					t.Errorf("%s imports missing %s", name, target)
				}
			}
		}
	}
	if seen < 8 {
		t.Fatalf("found only %d references; is the pattern still right?", seen)
	}
}
