package turn

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// refusal says why a peer address was allowed or refused. It is a small enum so
// the permission path does not allocate and logs stay low-cardinality.
type refusal uint8

// Reasons, in the order peerPolicy.Classify decides them.
const (
	reasonPublic      refusal = iota // global unicast, allowed
	reasonAllowList                  // matched AllowPeers
	reasonOwnRelay                   // the server's own relay address (ports checked on send)
	reasonDenyList                   // matched DenyPeers
	reasonInvalid                    // not an IP address
	reasonUnspecified                // 0.0.0.0/8, ::
	reasonLoopback                   // 127/8, ::1
	reasonPrivate                    // RFC 1918, fc00::/7
	reasonShared                     // 100.64/10 CGNAT
	reasonLinkLocal                  // 169.254/16 (cloud metadata), fe80::/10
	reasonMulticast                  // 224/4, ff00::/8
	reasonBroadcast                  // 255.255.255.255
	reasonReserved                   // IANA special-purpose, documentation, benchmarking, 240/4, non-2000::/3 IPv6
)

var reasonNames = [...]string{
	reasonPublic:      "public",
	reasonAllowList:   "allow-list",
	reasonOwnRelay:    "own-relay",
	reasonDenyList:    "deny-list",
	reasonInvalid:     "invalid",
	reasonUnspecified: "unspecified",
	reasonLoopback:    "loopback",
	reasonPrivate:     "private",
	reasonShared:      "shared-address-space",
	reasonLinkLocal:   "link-local",
	reasonMulticast:   "multicast",
	reasonBroadcast:   "broadcast",
	reasonReserved:    "reserved",
}

func (r refusal) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Allowed reports whether r lets traffic through.
func (r refusal) Allowed() bool { return r <= reasonOwnRelay }

type tableEntry struct {
	p netip.Prefix
	r refusal
}

func mustPrefixes(r refusal, ss ...string) []tableEntry {
	out := make([]tableEntry, 0, len(ss))
	for _, s := range ss {
		out = append(out, tableEntry{netip.MustParsePrefix(s), r})
	}
	return out
}

func concat(parts ...[]tableEntry) []tableEntry {
	var out []tableEntry
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// alwaysDenied can never be re-opened by AllowPeers: 0.0.0.0/8 and :: reach the
// host itself on Linux (CVE-2020-26262), and a relay has no business sending
// to multicast or broadcast.
var alwaysDenied = concat(
	mustPrefixes(reasonUnspecified, "0.0.0.0/8", "::/128"),
	mustPrefixes(reasonBroadcast, "255.255.255.255/32"),
	mustPrefixes(reasonMulticast, "224.0.0.0/4", "ff00::/8"),
)

// builtinDeny is the default table, from the IANA IPv4/IPv6 special-purpose
// address registries (RFC 6890) as used by Enable Security's coturn
// recommended.conf and eturnal's "recommended" list. AllowPeers overrides it.
var builtinDeny = concat(
	mustPrefixes(reasonLoopback, "127.0.0.0/8", "::1/128"),
	mustPrefixes(reasonPrivate, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
	mustPrefixes(reasonShared, "100.64.0.0/10"),
	mustPrefixes(reasonLinkLocal, "169.254.0.0/16", "fe80::/10"),
	mustPrefixes(reasonReserved,
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"192.31.196.0/24", // AS112-v4
		"192.52.193.0/24", // AMT
		"192.88.99.0/24",  // deprecated 6to4 relay anycast
		"192.175.48.0/24", // direct delegation AS112
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"240.0.0.0/4",     // reserved
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments (Teredo is unwrapped before this)
		"2001:db8::/32",   // documentation
		"2620:4f:8000::/48",
		"3fff::/20", // documentation (RFC 9637)
		"fec0::/10", // deprecated site-local
	),
)

// globalUnicast6 is the only IPv6 range IANA allocates for global unicast;
// anything else that is not an embedded IPv4 form is refused.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// peerPolicy decides which peer addresses the relay may send to (RFC 8656
// §9: the server decides which permissions to install). It judges the
// canonical address: IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64
// (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo (2001::/32)
// forms are unwrapped and judged as the IPv4 address they carry, so that
// ::ffff:127.0.0.1 and friends cannot bypass the table (coturn CVE-2026-27624).
//
// Precedence: always-denied (unspecified, multicast, broadcast) > DenyPeers >
// the server's own relay address > AllowPeers > built-in table > allow.
// An explicit deny therefore wins over an explicit allow: an operator's
// deny entry is never silently reopened. Prefix lists match both the raw
// and the canonical address.
//
// A peerPolicy is immutable and safe for concurrent use; Classify does not
// allocate.
type peerPolicy struct {
	allow []netip.Prefix
	deny  []netip.Prefix
	own   netip.Addr // canonical own relay IP, or invalid
}

// newPeerPolicy parses allow and deny lists of CIDRs (a bare IP means that
// single address). own, when valid, is the server's relay address and is
// allowed unless explicitly denied.
func newPeerPolicy(allow, deny []string, own netip.Addr) (*peerPolicy, error) {
	a, err := parsePrefixes("AllowPeers", allow)
	if err != nil {
		return nil, err
	}
	d, err := parsePrefixes("DenyPeers", deny)
	if err != nil {
		return nil, err
	}
	p := &peerPolicy{allow: a, deny: d}
	if own.IsValid() {
		p.own = canonicalAddr(own)
	}
	return p, nil
}

func parsePrefixes(field string, ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for i, s := range ss {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(s)
			if err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("Turn.%s[%d]: bad CIDR %q: %w", field, i, s, err)
		}
		if p.Addr().Zone() != "" {
			return nil, fmt.Errorf("Turn.%s[%d]: bad CIDR %q: zones not allowed", field, i, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// canonicalAddr returns the address a peer really designates: the embedded IPv4
// address for IPv4-in-IPv6 forms, else a unchanged (without zone).
func canonicalAddr(a netip.Addr) netip.Addr {
	a = a.WithZone("")
	if !a.Is6() {
		return a
	}
	if a.Is4In6() {
		return a.Unmap()
	}
	b := a.As16()
	var v4 [4]byte
	switch {
	case allZero(b[:12]) && !allZero(b[12:]) && !isOne(b[12:]):
		// IPv4-compatible ::a.b.c.d (deprecated, RFC 4291 §2.5.5.1); :: and ::1 stay IPv6.
		copy(v4[:], b[12:])
	case allZero(b[:8]) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0:
		// IPv4-translated ::ffff:0:a.b.c.d (RFC 2765 SIIT).
		copy(v4[:], b[12:])
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && allZero(b[4:12]):
		// NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
		copy(v4[:], b[12:])
	case isLocalNAT64(b):
		// Local-use NAT64 64:ff9b:1::/48 (RFC 8215): the /96 layout here;
		// Classify judges every layout (localNAT64Layouts).
		copy(v4[:], b[12:])
	case b[0] == 0x20 && b[1] == 0x02:
		// 6to4 2002:V4ADDR::/48 (RFC 3056).
		copy(v4[:], b[2:6])
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0:
		// Teredo 2001:0::/32 (RFC 4380): client IPv4 is the last 32 bits, inverted.
		for i := range v4 {
			v4[i] = b[12+i] ^ 0xff
		}
	default:
		return a
	}
	return netip.AddrFrom4(v4)
}

// isLocalNAT64 reports whether b is in the local-use NAT64 prefix
// 64:ff9b:1::/48 (RFC 8215).
func isLocalNAT64(b [16]byte) bool {
	return b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1
}

// localNAT64Layouts are the byte positions of the embedded IPv4 address for
// the RFC 6052 §2.2 prefix lengths a network can carve from 64:ff9b:1::/48:
// /96, /48, /56 and /64 (byte 8, bits 64-71, is skipped). Which one a
// network uses is not visible in the address, so each is judged; /96 first,
// so a refusal names the reason of the common layout.
var localNAT64Layouts = [...][4]uint8{
	{12, 13, 14, 15}, // /96
	{6, 7, 9, 10},    // /48
	{7, 9, 10, 11},   // /56
	{9, 10, 11, 12},  // /64
}

// nat64Embedded returns the IPv4 address embedded in b with the RFC 6052
// layout at index i of localNAT64Layouts.
func nat64Embedded(b [16]byte, i int) netip.Addr {
	l := localNAT64Layouts[i]
	return netip.AddrFrom4([4]byte{b[l[0]], b[l[1]], b[l[2]], b[l[3]]})
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func isOne(b []byte) bool { return b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 1 }

// Classify decides whether the relay may send to a. An address of the
// local-use NAT64 prefix is refused when the IPv4 address of any RFC 6052
// layout is refused: the relay cannot know which layout the network's
// translator uses, so 64:ff9b:1:a9fe:a9:fe00:808:808 (169.254.169.254 the
// /48 way, 8.8.8.8 the /96 way) is refused. Layouts that read the zero bits
// of a shorter prefix read 0.0.0.0, so most of the prefix is refused; the
// relay allocates IPv4 only, so no reachable peer is lost.
func (p *peerPolicy) Classify(a netip.Addr) refusal {
	if !a.IsValid() {
		return reasonInvalid
	}
	raw := a.WithZone("")
	if raw.Is6() && isLocalNAT64(raw.As16()) {
		b := raw.As16()
		var r refusal
		for i := range localNAT64Layouts {
			if r = p.classify(raw, nat64Embedded(b, i)); !r.Allowed() {
				return r
			}
		}
		return r
	}
	return p.classify(raw, canonicalAddr(raw))
}

// classify judges raw, whose canonical form is c.
func (p *peerPolicy) classify(raw, c netip.Addr) refusal {
	if r, ok := lookup(alwaysDenied, c); ok {
		return r
	}
	if matchAny(p.deny, raw, c) {
		return reasonDenyList
	}
	if p.own.IsValid() && c == p.own {
		return reasonOwnRelay
	}
	if matchAny(p.allow, raw, c) {
		return reasonAllowList
	}
	if r, ok := lookup(builtinDeny, c); ok {
		return r
	}
	if c.Is6() && !globalUnicast6.Contains(c) {
		return reasonReserved
	}
	return reasonPublic
}

// ClassifyIP is Classify for a net.IP, as pion's PermissionHandler passes it.
func (p *peerPolicy) ClassifyIP(ip net.IP) refusal {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return reasonInvalid
	}
	return p.Classify(a)
}

// Allowed reports whether the relay may send to ip.
func (p *peerPolicy) Allowed(ip net.IP) bool { return p.ClassifyIP(ip).Allowed() }

func matchAny(ps []netip.Prefix, raw, c netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(c) || p.Contains(raw) {
			return true
		}
	}
	return false
}

// lookup judges the canonical address only: an unwrapped form is judged as
// the IPv4 address it carries, not by the IPv6 block that carries it.
func lookup(t []tableEntry, c netip.Addr) (refusal, bool) {
	for _, e := range t {
		if e.p.Contains(c) {
			return e.r, true
		}
	}
	return 0, false
}
