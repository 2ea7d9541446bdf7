package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

//go:embed static
var staticFS embed.FS

// csp is the Content-Security-Policy sent with every response. connect-src
// lists ws: and wss: because 'self' does not cover WebSocket schemes in every
// browser; media-src allows blob: for local previews.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self' ws: wss:; media-src 'self' blob:; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// permissionsPolicy lets only this origin use the camera, microphone and
// screen capture, and turns off features a call page never needs.
const permissionsPolicy = "camera=(self), microphone=(self), display-capture=(self), " +
	"geolocation=(), payment=(), usb=()"

// asset is one embedded file with its precomputed headers.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// contentTypes is explicit so responses do not depend on the host's mime tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

type handler struct {
	assets map[string]asset // keyed by path under static/, e.g. "js/call.js"; read-only after New
}

// Handler serves the app: "/" home, "/r/<room>" call page, "/diag" self-test
// and "/static/..." assets, with the security headers on every response.
// Anything else is 404, and only GET and HEAD are allowed.
func Handler() http.Handler {
	h := &handler{assets: map[string]asset{}}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("web: embedded static dir missing: " + err.Error()) // impossible with go:embed
	}
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil // unknown kinds are not served rather than guessed
		}
		body, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		h.assets[p] = asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer") // room names in URLs must not leak to other sites
	hdr.Set("Permissions-Policy", permissionsPolicy)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := h.route(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr.Set("Content-Type", a.ctype)
	if name == callPage && !roomOK(r.URL.Path) {
		// A bad room link still gets the page, which says what is wrong and
		// links to the start page; the status tells robots it is not a room.
		hdr.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		if r.Method != http.MethodHead {
			_, _ = w.Write(a.body)
		}
		return
	}
	hdr.Set("ETag", a.etag)
	// No hashed file names, so revalidate every time; the ETag makes it cheap.
	hdr.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// callPage is the asset every /r/ path gets.
const callPage = "call.html"

// roomOK reports whether the /r/ path p names a valid room
// (docs/protocol.md §3.3).
func roomOK(p string) bool {
	room := strings.TrimSuffix(strings.TrimPrefix(p, "/r/"), "/")
	if strings.HasPrefix(p, "/r/") && !strings.Contains(room, "/") {
		_, ok := proto.CanonicalRoom(room)
		return ok
	}
	return false
}

// route maps a request path to an embedded asset name.
func (h *handler) route(p string) (string, bool) {
	switch {
	case p == "/" || p == "/index.html":
		return "index.html", true
	case p == "/diag" || p == "/diag/":
		return "diag.html", true
	case p == "/r" || strings.HasPrefix(p, "/r/"):
		return callPage, true
	case strings.HasPrefix(p, "/static/"):
		name := strings.TrimPrefix(p, "/static/")
		// Reject anything that is not already a clean relative path: no "..",
		// no "//", no trailing slash, no backslash tricks.
		if !fs.ValidPath(name) || strings.Contains(name, `\`) || strings.HasSuffix(name, ".html") {
			return "", false
		}
		return name, true
	case p == "/favicon.ico":
		return "img/favicon.svg", true
	}
	return "", false
}
