package signal

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"

	"github.com/rtcd/rtcd/signal/proto"
)

// hostSet is the set of Host header values /ws and /api/v1 answer to. A
// DNS rebinding attack points a name the attacker controls at the daemon:
// the victim's browser then sends `Host: evil.example` with `Origin:
// http://evil.example`, which looks same-origin, so only a list of the names
// the daemon is really reached by tells the two apart.
//
// Always allowed: IP literals (a page can only get an IP literal into Host
// by being loaded from that address, so it is the daemon's own origin),
// localhost and *.localhost (browsers resolve those to loopback themselves,
// never through DNS) and an empty Host (HTTP/1.0 clients, never browsers).
type hostSet struct {
	any      bool
	names    map[string]bool
	suffixes []string // ".example.com" for "*.example.com"
}

// newHostSet builds the set from AllowedHosts entries (checked by
// validHostEntry) and the hosts of the AllowOrigins entries.
func newHostSet(hosts, origins []string) *hostSet {
	s := &hostSet{names: make(map[string]bool)}
	add := func(e string) {
		e = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(e)), ".")
		switch {
		case e == "*":
			s.any = true
		case strings.HasPrefix(e, "*."):
			s.suffixes = append(s.suffixes, e[1:])
		case e != "":
			s.names[e] = true
		}
	}
	for _, h := range hosts {
		add(h)
	}
	for _, o := range origins {
		if n, err := normalizeOrigin(o); err == nil {
			if u, err := url.Parse(n); err == nil {
				add(u.Hostname())
			}
		}
	}
	return s
}

// allowed reports whether a request's Host header (host[:port]) is served.
func (s *hostSet) allowed(hostport string) bool {
	if s.any || hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || s.names[host] {
		return true
	}
	for _, suf := range s.suffixes {
		// One label, as in a certificate: *.example.com is a.example.com,
		// not a.b.example.com.
		if rest, ok := strings.CutSuffix(host, suf); ok && rest != "" && !strings.Contains(rest, ".") {
			return true
		}
	}
	return false
}

// String lists the allowed hosts for the start-up log.
func (s *hostSet) String() string {
	if s.any {
		return "any (Signal.AllowedHosts has \"*\": no DNS rebinding protection)"
	}
	list := make([]string, 0, len(s.names)+len(s.suffixes))
	for n := range s.names {
		list = append(list, n)
	}
	for _, suf := range s.suffixes {
		list = append(list, "*"+suf)
	}
	sort.Strings(list)
	return strings.Join(append(list, "localhost", "IP addresses"), ", ")
}

// validHostEntry checks one Signal.AllowedHosts entry: "*", a host name,
// "*.<name>" or an IP address, without scheme, port or path.
func validHostEntry(e string) error {
	e = strings.TrimSpace(e)
	if e == "*" {
		return nil
	}
	if _, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
		return nil
	}
	name := strings.TrimPrefix(e, "*.")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%q is not a host name", e)
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return fmt.Errorf("%q is not a host name (give the name only, without scheme, port or path)", e)
		}
	}
	return nil
}

// AllowedHosts describes the Host header values /ws and /api/v1 accept,
// for the start-up log.
func (h *Hub) AllowedHosts() string { return h.hosts.String() }

// hostRefused answers a request whose Host is not served with 421 and
// reports true. jsonBody selects the API's JSON error shape.
func (h *Hub) hostRefused(w http.ResponseWriter, r *http.Request, jsonBody bool) bool {
	if h.hosts.allowed(r.Host) {
		return false
	}
	h.st.err(proto.CodeForbidden)
	msg := "host " + proto.Clip(r.Host, 64) + " is not served here; add it to Signal.AllowedHosts"
	if jsonBody {
		apiError(w, http.StatusMisdirectedRequest, proto.CodeForbidden, msg)
	} else {
		http.Error(w, msg, http.StatusMisdirectedRequest)
	}
	return true
}
