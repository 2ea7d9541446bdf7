// Package coturnconf turns a coturn turnserver.conf into the rtcd.yaml of
// TURN-only mode, so that someone who runs coturn for Synapse, Nextcloud
// Talk or Jitsi can switch in minutes. What rtcd cannot carry over is
// reported line by line instead of being dropped silently.
package coturnconf

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Note is one remark about a line of the input: an option not carried over,
// or carried over with a change of meaning.
type Note struct {
	Line   int
	Option string
	Text   string
}

func (n Note) String() string { return fmt.Sprintf("line %d: %s: %s", n.Line, n.Option, n.Text) }

// Result is the translation of one turnserver.conf.
type Result struct {
	// YAML is the rtcd configuration, ready for rtcd turn -f.
	YAML string
	// Notes say, line by line, what did not carry over.
	Notes []Note
	// Secrets are the static-auth-secret values, in order. They are not in
	// YAML, which names ${RTCD_TURN_SECRET}, ${RTCD_TURN_SECRET_2}, ...
	// instead, so that the file can be shared and the secrets kept in the
	// environment.
	Secrets []string
}

// settings are the coturn options rtcd has an equivalent for.
type settings struct {
	listenIP, relayIP, publicIP string
	port, tlsPort               int
	minPort, maxPort            int
	realm                       string
	cert, key                   string
	totalQuota, userQuota       int
	deny, allow                 []addrRange
	allowLines                  []int
	useAuthSecret               bool
	secrets                     []string
	secretLine                  int
}

// ignored are options with nothing to carry over, and why.
var ignored = map[string]string{
	"fingerprint":                       "rtcd always adds FINGERPRINT",
	"no-multicast-peers":                "rtcd always refuses multicast peers",
	"no-loopback-peers":                 "rtcd always refuses loopback peers",
	"no-tcp-relay":                      "rtcd never allocates TCP relays (RFC 6062)",
	"stale-nonce":                       "rtcd's nonces expire by themselves",
	"no-cli":                            "rtcd has no telnet CLI",
	"no-rfc5780":                        "rtcd does not implement RFC 5780 NAT behaviour discovery",
	"no-stun-backward-compatibility":    "rtcd speaks RFC 8489 STUN only",
	"response-origin-only-with-rfc5780": "rtcd does not implement RFC 5780",
	"no-software-attribute":             "not configurable in rtcd",
	"lt-cred-mech":                      "rtcd uses the TURN REST shared secret (use-auth-secret) only",
}

// unsupported are options rtcd has no equivalent for, and what to do.
var unsupported = map[string]string{
	"user":                              "static users are not supported; rtcd only accepts TURN REST credentials from the shared secret",
	"userdb":                            "user databases are not supported; use the shared secret",
	"psql-userdb":                       "user databases are not supported; use the shared secret",
	"mysql-userdb":                      "user databases are not supported; use the shared secret",
	"mongo-userdb":                      "user databases are not supported; use the shared secret",
	"redis-userdb":                      "user databases are not supported; use the shared secret",
	"redis-statsdb":                     "statistics go to /metrics (Prometheus) instead",
	"prometheus":                        "rtcd's metrics are on the loopback dev server (DevServer.EnableMetrics)",
	"alt-listening-port":                "RFC 5780 alternate ports are not supported",
	"alt-tls-listening-port":            "RFC 5780 alternate ports are not supported",
	"max-bps":                           "per-session bandwidth caps are not supported",
	"bps-capacity":                      "a server bandwidth cap is not supported",
	"syslog":                            "rtcd logs to stdout/stderr (journald under systemd); see the Log section",
	"log-file":                          "rtcd logs to stdout/stderr (journald under systemd); see the Log section",
	"simple-log":                        "rtcd logs to stdout/stderr (journald under systemd); see the Log section",
	"no-stdout-log":                     "rtcd logs to stdout/stderr (journald under systemd); see the Log section",
	"verbose":                           "set Log.Level: debug instead",
	"Verbose":                           "set Log.Level: debug instead",
	"pidfile":                           "systemd tracks the process (deploy/rtcd.service)",
	"proc-user":                         "the systemd unit sets the user (deploy/rtcd.service)",
	"proc-group":                        "the systemd unit sets the group (deploy/rtcd.service)",
	"cli-ip":                            "rtcd has no telnet CLI",
	"cli-port":                          "rtcd has no telnet CLI",
	"cli-password":                      "rtcd has no telnet CLI",
	"web-admin":                         "rtcd has no web admin; see /metrics",
	"web-admin-ip":                      "rtcd has no web admin; see /metrics",
	"web-admin-port":                    "rtcd has no web admin; see /metrics",
	"dh-file":                           "TLS parameters are Go's (TLS 1.2+, modern suites)",
	"cipher-list":                       "TLS parameters are Go's (TLS 1.2+, modern suites)",
	"ec-curve-name":                     "TLS parameters are Go's (TLS 1.2+, modern suites)",
	"pkey-pwd":                          "encrypted private keys are not supported; decrypt the key file",
	"no-tls":                            "TURN over TLS is on only when Turn.TLSListen or Turn.OnePort is set, which this import does only with cert and pkey",
	"no-dtls":                           "rtcd has no DTLS listener",
	"no-udp":                            "rtcd always serves UDP",
	"no-tcp":                            "rtcd always serves TCP",
	"secure-stun":                       "STUN Binding stays unauthenticated (rate-limited per address: Turn.BindingRate)",
	"server-name":                       "the realm (Turn.Realm) names the server",
	"mobility":                          "RFC 8016 mobility is not supported",
	"no-auth":                           "rtcd always requires credentials: it is never an open relay",
	"allow-loopback-peers":              "list 127.0.0.1/32 in Turn.AllowPeers if you really mean it",
	"server-relay":                      "not supported",
	"keep-address-family":               "rtcd relays IPv4",
	"allocation-default-address-family": "rtcd relays IPv4",
	"check-origin-consistency":          "not applicable to TURN-only mode",
	"oauth":                             "OAuth (RFC 7635) is not supported; use the shared secret",
	"channel-lifetime":                  "channel bindings last 10 minutes (RFC 8656)",
	"permission-lifetime":               "permissions last 5 minutes (RFC 8656)",
	"max-allocate-lifetime":             "allocation lifetimes are pion's (up to 1 hour)",
	"max-allocate-timeout":              "not configurable",
	"no-rfc5780-peers":                  "not applicable",
	"listening-device":                  "bind by address (Turn.Listen) instead of by device",
	"relay-device":                      "bind by address (Turn.RelayIP) instead of by device",
	"relay-threads":                     "rtcd uses one UDP socket per CPU (Turn.UDPSockets)",
	"aux-server":                        "not supported",
	"udp-self-balance":                  "not supported",
	"tcp-proxy-port":                    "not supported",
	"acme-redirect":                     "rtcd gets certificates itself: TLS.ACMEDomains",
	"no-prometheus-username-labels":     "rtcd's metrics never carry user names",
	"denied-peer-ip-file":               "list the ranges in Turn.DenyPeers",
	"log-binding":                       "Binding requests are counted, not logged",
}

// Parse reads a turnserver.conf and translates it.
func Parse(r io.Reader) (Result, error) {
	var st settings
	var notes []Note
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	seenListenIP := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		opt, val := splitOption(line)
		note := func(format string, a ...any) { notes = append(notes, Note{n, opt, fmt.Sprintf(format, a...)}) }
		intVal := func(lo, hi int) (int, bool) {
			v, err := strconv.Atoi(val)
			if err != nil || v < lo || v > hi {
				note("%q is not a number in %d-%d; not carried over", val, lo, hi)
				return 0, false
			}
			return v, true
		}
		switch opt {
		case "listening-port":
			if v, ok := intVal(1, 65535); ok {
				st.port = v
			}
		case "tls-listening-port":
			if v, ok := intVal(1, 65535); ok {
				st.tlsPort = v
			}
		case "listening-ip":
			a, err := netip.ParseAddr(val)
			switch {
			case err != nil:
				note("%q is not an IP address; not carried over", val)
			case seenListenIP:
				note("rtcd listens on one address (or all); only the first listening-ip is used")
			case !a.Unmap().Is4():
				seenListenIP = true
				note("IPv6 listening address: rtcd listens on all addresses instead")
			default:
				seenListenIP = true
				st.listenIP = a.Unmap().String()
			}
		case "relay-ip":
			a, err := netip.ParseAddr(val)
			switch {
			case err != nil:
				note("%q is not an IP address; not carried over", val)
			case !a.Unmap().Is4():
				note("rtcd relays IPv4 only; this IPv6 relay address is not carried over")
			case st.relayIP != "":
				note("rtcd binds relays on one address; only the first IPv4 relay-ip is used")
			default:
				st.relayIP = a.Unmap().String()
			}
		case "external-ip":
			pub, priv, _ := strings.Cut(val, "/")
			a, err := netip.ParseAddr(pub)
			switch {
			case err != nil:
				note("%q is not an IP address (rtcd takes an address, not a name); not carried over", pub)
			case !a.Unmap().Is4():
				note("rtcd advertises one IPv4 relay address; this IPv6 one is not carried over")
			case st.publicIP != "":
				note("rtcd advertises one relay address; only the first IPv4 external-ip is used")
			default:
				st.publicIP = a.Unmap().String()
				if p, err := netip.ParseAddr(priv); err == nil && p.Unmap().Is4() && st.relayIP == "" {
					st.relayIP = p.Unmap().String()
				}
			}
		case "min-port":
			if v, ok := intVal(1, 65535); ok {
				st.minPort = v
			}
		case "max-port":
			if v, ok := intVal(1, 65535); ok {
				st.maxPort = v
			}
		case "realm":
			if val == "" {
				note("empty realm; not carried over")
			} else {
				st.realm = val
			}
		case "use-auth-secret":
			st.useAuthSecret = true
		case "static-auth-secret":
			if val == "" {
				note("empty secret; not carried over")
			} else {
				st.secrets = append(st.secrets, val)
				if st.secretLine == 0 {
					st.secretLine = n
				}
			}
		case "cert":
			st.cert = val
		case "pkey":
			st.key = val
		case "total-quota":
			if v, ok := intVal(0, 1<<30); ok {
				st.totalQuota = v
			}
		case "user-quota":
			if v, ok := intVal(0, 1<<30); ok {
				st.userQuota = v
			}
		case "denied-peer-ip", "allowed-peer-ip":
			r, err := parseRange(val)
			if err != nil {
				note("%v; not carried over", err)
				break
			}
			if opt == "denied-peer-ip" {
				st.deny = append(st.deny, r)
			} else {
				st.allow = append(st.allow, r)
				st.allowLines = append(st.allowLines, n)
			}
		default:
			if why, ok := ignored[opt]; ok {
				note("nothing to carry over: %s", why)
			} else if why, ok := unsupported[opt]; ok {
				note("not carried over: %s", why)
			} else {
				note("unknown to this import; not carried over")
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Result{}, fmt.Errorf("read turnserver.conf: %w", err)
	}
	// coturn lets an allowed address through a denied range; rtcd's
	// DenyPeers wins over AllowPeers, so the denied ranges are cut around
	// the allowed ones.
	for i, a := range st.allow {
		for _, d := range st.deny {
			if a.overlaps(d) {
				notes = append(notes, Note{st.allowLines[i], "allowed-peer-ip", "inside a denied-peer-ip range: the range is carried over without it (in rtcd Turn.DenyPeers wins over Turn.AllowPeers)"})
				break
			}
		}
	}
	st.deny = subtract(st.deny, st.allow)
	if len(st.secrets) > 0 && !st.useAuthSecret {
		notes = append(notes, Note{st.secretLine, "static-auth-secret", "use-auth-secret is not set, so coturn ignored this secret; rtcd uses it"})
	}
	sort.SliceStable(notes, func(i, j int) bool { return notes[i].Line < notes[j].Line })
	return Result{YAML: st.yaml(), Notes: notes, Secrets: st.secrets}, nil
}

// splitOption splits "opt=value", "opt value" and "opt" (a flag); coturn
// also accepts a leading "--".
func splitOption(line string) (string, string) {
	line = strings.TrimPrefix(line, "--")
	i := strings.IndexAny(line, "= \t")
	if i < 0 {
		return line, ""
	}
	val := strings.TrimSpace(strings.TrimLeft(line[i:], "= \t"))
	if len(val) >= 2 && (val[0] == '"' && val[len(val)-1] == '"' || val[0] == '\'' && val[len(val)-1] == '\'') {
		val = val[1 : len(val)-1]
	}
	return line[:i], val
}

// addrRange is an inclusive range of addresses of one family.
type addrRange struct{ from, to netip.Addr }

func (r addrRange) overlaps(o addrRange) bool {
	return r.from.BitLen() == o.from.BitLen() && r.from.Compare(o.to) <= 0 && o.from.Compare(r.to) <= 0
}

// parseRange reads coturn's "A-B", "A" and CIDR forms.
func parseRange(s string) (addrRange, error) {
	bad := fmt.Errorf("%q is not an address range", s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return addrRange{}, bad
		}
		p = p.Masked()
		return addrRange{p.Addr(), lastAddr(p)}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	from, err := netip.ParseAddr(strings.TrimSpace(lo))
	if err != nil {
		return addrRange{}, bad
	}
	from = from.Unmap()
	to := from
	if isRange {
		if to, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil {
			return addrRange{}, bad
		}
		to = to.Unmap()
		if to.BitLen() != from.BitLen() || to.Less(from) {
			return addrRange{}, bad
		}
	}
	return addrRange{from, to}, nil
}

// subtract removes the addresses of cut from every range of rs.
func subtract(rs, cut []addrRange) []addrRange {
	for _, c := range cut {
		var out []addrRange
		for _, r := range rs {
			if !r.overlaps(c) {
				out = append(out, r)
				continue
			}
			if r.from.Less(c.from) {
				out = append(out, addrRange{r.from, c.from.Prev()})
			}
			if c.to.Less(r.to) {
				out = append(out, addrRange{c.to.Next(), r.to})
			}
		}
		rs = out
	}
	return rs
}

// cidrs is the shortest list of prefixes that covers exactly r.
func (r addrRange) cidrs() []string {
	var out []string
	for a := r.from; ; {
		// The largest prefix starting at a that ends at or before r.to.
		bits := a.BitLen()
		for bits > 0 {
			p, _ := a.Prefix(bits - 1)
			if p.Addr() != a || lastAddr(p).Compare(r.to) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(a, bits)
		out = append(out, p.String())
		end := lastAddr(p)
		if end.Compare(r.to) >= 0 || !end.Next().IsValid() {
			return out
		}
		a = end.Next()
	}
}

func allCIDRs(rs []addrRange) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.cidrs()...)
	}
	return out
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// yaml renders the settings as a TURN-only rtcd.yaml.
func (st settings) yaml() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# rtcd.yaml imported from a coturn turnserver.conf (rtcd import-coturn).\n")
	w("# Run it with: rtcd turn -f this-file   (TURN-only mode: no web app, no signaling)\n")
	w("Name: rtcd-turn\n")
	w("Host: 127.0.0.1 # /healthz and /readyz only\n")
	w("Port: 8080\n")
	w("Log:\n  Encoding: plain\n  Level: info\n")
	w("Auth:\n")
	if len(st.secrets) == 0 {
		w("  # No static-auth-secret was found: set the secret your platform mints credentials with.\n")
		w("  Secrets: [\"${RTCD_TURN_SECRET}\"]\n")
	} else {
		w("  # coturn's static-auth-secret, kept out of this file: put it in the environment\n")
		w("  # (RTCD_TURN_SECRET, and _2, _3 ... for more, e.g. in the systemd unit's EnvironmentFile).\n")
		names := make([]string, len(st.secrets))
		for i := range st.secrets {
			names[i] = fmt.Sprintf("\"${%s}\"", SecretEnv(i))
		}
		w("  Secrets: [%s]\n", strings.Join(names, ", "))
	}
	w("Turn:\n")
	host := st.listenIP
	if host == "" {
		host = "0.0.0.0"
	}
	port := st.port
	if port == 0 {
		port = 3478
	}
	w("  Listen: %s:%d\n", host, port)
	if st.realm != "" {
		w("  Realm: %s\n", yamlString(st.realm))
	}
	if st.publicIP != "" {
		w("  PublicIP: %s\n", st.publicIP)
	} else {
		w("  # PublicIP: set it when the server is behind a cloud's 1:1 NAT (coturn's external-ip)\n")
	}
	if st.relayIP != "" {
		w("  RelayIP: %s\n", st.relayIP)
	}
	if st.minPort != 0 {
		w("  MinPort: %d\n", st.minPort)
	}
	if st.maxPort != 0 {
		w("  MaxPort: %d\n", st.maxPort)
	}
	list := func(key string, v []string) {
		if len(v) > 0 {
			w("  %s: [%s]\n", key, strings.Join(quoted(v), ", "))
		}
	}
	list("DenyPeers", allCIDRs(st.deny))
	list("AllowPeers", allCIDRs(st.allow))
	if st.userQuota > 0 {
		w("  MaxAllocationsPerUser: %d\n", st.userQuota)
	} else {
		w("  # MaxAllocationsPerUser: 10 (rtcd's default; coturn's user-quota was unlimited)\n")
	}
	if st.totalQuota > 0 {
		w("  MaxAllocations: %d\n", st.totalQuota)
	} else {
		w("  # MaxAllocations: 10000 (rtcd's default; coturn's total-quota was unlimited)\n")
	}
	tls := st.cert != "" && st.key != ""
	if tls {
		tlsPort := st.tlsPort
		if tlsPort == 0 {
			tlsPort = 5349
		}
		w("  TLSListen: %s:%d\n", host, tlsPort)
		w("TLS:\n  CertFile: %s\n  KeyFile: %s\n", yamlString(st.cert), yamlString(st.key))
	}
	w("Signal:\n  Disabled: true # TURN-only mode\n")
	return b.String()
}

// SecretEnv is the environment variable the imported YAML reads the i-th
// static-auth-secret from.
func SecretEnv(i int) string {
	if i == 0 {
		return "RTCD_TURN_SECRET"
	}
	return fmt.Sprintf("RTCD_TURN_SECRET_%d", i+1)
}

func quoted(v []string) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = strconv.Quote(s)
	}
	return out
}

// yamlString quotes s when YAML would not read it back as the same string.
func yamlString(s string) string {
	if s == "" || strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(s) != s {
		return strconv.Quote(s)
	}
	return s
}
