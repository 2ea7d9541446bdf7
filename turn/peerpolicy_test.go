package turn

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

func mustPolicy(t testing.TB, allow, deny []string, own string) *peerPolicy {
	t.Helper()
	var o netip.Addr
	if own != "" {
		o = netip.MustParseAddr(own)
	}
	p, err := newPeerPolicy(allow, deny, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// teredo builds a Teredo address whose obfuscated client address is v4.
func teredo(v4 string) string {
	a := netip.MustParseAddr(v4).As4()
	b := [16]byte{0x20, 0x01, 0, 0, 0x41, 0x37, 0x9e, 0x50, 0x80, 0, 0xf2, 0x27}
	for i := range a {
		b[12+i] = a[i] ^ 0xff
	}
	return netip.AddrFrom16(b).String()
}

func TestDefaultDenyTable(t *testing.T) {
	p := mustPolicy(t, nil, nil, "")
	tests := []struct {
		ip   string
		want refusal
	}{
		// unspecified (CVE-2020-26262)
		{"0.0.0.0", reasonUnspecified},
		{"0.1.2.3", reasonUnspecified},
		{"::", reasonUnspecified},
		{"::ffff:0.0.0.0", reasonUnspecified},
		// loopback, every encoding
		{"127.0.0.1", reasonLoopback},
		{"127.0.0.8", reasonLoopback},
		{"127.255.255.254", reasonLoopback},
		{"::1", reasonLoopback},
		{"::ffff:127.0.0.1", reasonLoopback},
		{"::ffff:127.0.0.2", reasonLoopback},
		{"::127.0.0.1", reasonLoopback},
		{"::ffff:0:127.0.0.1", reasonLoopback},
		{"64:ff9b::7f00:1", reasonLoopback},
		{"64:ff9b:1::7f00:1", reasonLoopback},
		{"2002:7f00:1::1", reasonLoopback},
		{teredo("127.0.0.1"), reasonLoopback},
		{"::ffff:127.0.0.1%eth0", reasonLoopback},
		// private
		{"10.0.0.1", reasonPrivate},
		{"10.255.255.254", reasonPrivate},
		{"172.16.0.1", reasonPrivate},
		{"172.31.255.254", reasonPrivate},
		{"192.168.0.1", reasonPrivate},
		{"192.168.255.254", reasonPrivate},
		{"::ffff:10.0.0.1", reasonPrivate},
		{"::10.0.0.1", reasonPrivate},
		{"64:ff9b::a00:1", reasonPrivate},
		{"2002:c0a8:101::1", reasonPrivate},
		{teredo("192.168.1.1"), reasonPrivate},
		{"fc00::1", reasonPrivate},
		{"fd12:3456::1", reasonPrivate},
		{"100.64.0.0", reasonShared},
		{"100.127.255.254", reasonShared},
		{"::ffff:100.64.0.1", reasonShared},
		// link-local, cloud metadata
		{"169.254.169.254", reasonLinkLocal},
		{"169.254.0.1", reasonLinkLocal},
		{"169.254.254.255", reasonLinkLocal},
		{"::ffff:169.254.169.254", reasonLinkLocal},
		{"64:ff9b::a9fe:a9fe", reasonLinkLocal},
		{"2002:a9fe:a9fe::", reasonLinkLocal},
		{teredo("169.254.169.254"), reasonLinkLocal},
		{"fe80::1", reasonLinkLocal},
		{"fe80::1%eth0", reasonLinkLocal},
		// multicast, broadcast
		{"224.0.0.1", reasonMulticast},
		{"239.255.255.254", reasonMulticast},
		{"::ffff:224.0.0.1", reasonMulticast},
		{"ff02::1", reasonMulticast},
		{"ff0e::1", reasonMulticast},
		{"255.255.255.255", reasonBroadcast},
		{"::ffff:255.255.255.255", reasonBroadcast},
		// reserved / special purpose
		{"240.0.0.1", reasonReserved},
		{"192.0.0.1", reasonReserved},
		{"192.0.2.1", reasonReserved},
		{"198.18.0.1", reasonReserved},
		{"198.19.255.254", reasonReserved},
		{"198.51.100.7", reasonReserved},
		{"203.0.113.9", reasonReserved},
		{"192.88.99.1", reasonReserved},
		{"192.31.196.1", reasonReserved},
		{"192.52.193.1", reasonReserved},
		{"192.175.48.1", reasonReserved},
		{"::ffff:198.51.100.7", reasonReserved},
		{"2001:db8::1", reasonReserved},
		{"2001:2::1", reasonReserved},
		{"2001:10::1", reasonReserved},
		{"100::1", reasonReserved},
		{"3fff::1", reasonReserved},
		{"2620:4f:8000::1", reasonReserved},
		{"fec0::1", reasonReserved},
		{"5f00::1", reasonReserved},
		{"4000::1", reasonReserved},
		// public
		{"8.8.8.8", reasonPublic},
		{"1.1.1.1", reasonPublic},
		{"100.63.255.255", reasonPublic},
		{"100.128.0.0", reasonPublic},
		{"172.15.255.255", reasonPublic},
		{"172.32.0.0", reasonPublic},
		{"169.253.255.255", reasonPublic},
		{"198.17.255.255", reasonPublic},
		{"223.255.255.255", reasonPublic},
		{"::ffff:8.8.8.8", reasonPublic},
		{"64:ff9b::808:808", reasonPublic},
		{"2002:808:808::1", reasonPublic},
		{teredo("8.8.8.8"), reasonPublic},
		{"2606:4700:4700::1111", reasonPublic},
		{"2a00:1450:4001::1", reasonPublic},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			a := netip.MustParseAddr(tt.ip)
			if got := p.Classify(a); got != tt.want {
				t.Fatalf("Classify(%s) = %v, want %v (canonical %v)", tt.ip, got, tt.want, canonicalAddr(a))
			}
			if got := p.Allowed(net.IP(a.AsSlice())); got != tt.want.Allowed() {
				t.Fatalf("Allowed(%s) = %v", tt.ip, got)
			}
		})
	}
	if p.ClassifyIP(net.IP{1, 2, 3}) != reasonInvalid || p.Allowed(nil) {
		t.Fatal("malformed net.IP allowed")
	}
}

func TestPolicyOverrides(t *testing.T) {
	p := mustPolicy(t,
		[]string{"10.0.0.0/8", "127.0.0.1", "fd00::/8", "198.51.100.0/24", "0.0.0.0/0"},
		[]string{"10.0.0.1/32", "8.8.4.4", "2001:4860::/32"},
		"203.0.113.5")
	tests := []struct {
		ip   string
		want refusal
	}{
		{"10.1.2.3", reasonAllowList},
		{"::ffff:10.1.2.3", reasonAllowList},
		{"10.0.0.1", reasonDenyList},
		{"::ffff:10.0.0.1", reasonDenyList},
		{"64:ff9b::a00:1", reasonDenyList},
		{"127.0.0.1", reasonAllowList},
		{"fd00::1", reasonAllowList},
		{"198.51.100.1", reasonAllowList},
		{"8.8.4.4", reasonDenyList},
		{"2001:4860::8888", reasonDenyList},
		{"203.0.113.5", reasonOwnRelay},
		{"::ffff:203.0.113.5", reasonOwnRelay},
		{"203.0.113.6", reasonAllowList},
		// never re-opened, even by 0.0.0.0/0
		{"0.0.0.0", reasonUnspecified},
		{"::ffff:0.0.0.0", reasonUnspecified},
		{"255.255.255.255", reasonBroadcast},
		{"224.0.0.1", reasonMulticast},
	}
	for _, tt := range tests {
		if got := p.Classify(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Classify(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	// Own relay address loses to an explicit deny.
	p2 := mustPolicy(t, nil, []string{"203.0.113.5"}, "203.0.113.5")
	if got := p2.Classify(netip.MustParseAddr("203.0.113.5")); got != reasonDenyList {
		t.Errorf("own relay explicitly denied: %v", got)
	}
}

func TestPolicyBadCIDR(t *testing.T) {
	for _, tt := range []struct {
		allow, deny []string
		want        string
	}{
		{allow: []string{"10.0.0.0/33"}, want: "Turn.AllowPeers[0]"},
		{allow: []string{"ok/8"}, want: "Turn.AllowPeers[0]"},
		{deny: []string{"1.2.3.4", "nonsense"}, want: "Turn.DenyPeers[1]"},
		{deny: []string{"fe80::/10%eth0"}, want: "Turn.DenyPeers[0]"},
	} {
		_, err := newPeerPolicy(tt.allow, tt.deny, netip.Addr{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewPeerPolicy(%v, %v) = %v, want %q", tt.allow, tt.deny, err, tt.want)
		}
	}
}

// TestClassifyAllocs: the permission path and the relay send check do not allocate.
func TestClassifyAllocs(t *testing.T) {
	p := mustPolicy(t, []string{"192.0.2.0/24"}, []string{"8.8.4.4"}, "203.0.113.5")
	ips := []net.IP{
		net.ParseIP("::ffff:127.0.0.1"), net.ParseIP("8.8.8.8").To4(), net.ParseIP("2002:7f00:1::1"),
		net.ParseIP(teredo("10.0.0.1")), net.ParseIP("2606:4700::1"),
	}
	if n := testing.AllocsPerRun(1000, func() {
		for _, ip := range ips {
			_ = p.Allowed(ip)
		}
	}); n != 0 {
		t.Fatalf("Allowed allocates %v times per run", n)
	}
	s := &Server{own4: [4]byte{127, 0, 0, 1}, ownPorts: true, cfg: Config{MinPort: 1000, MaxPort: 2000}}
	s.livePorts.add(1500) // one live allocation at 1500
	addrs := []net.IP{net.IPv4(127, 0, 0, 1), net.ParseIP("::ffff:127.0.0.1"), net.IPv4(8, 8, 8, 8).To4(), net.ParseIP("2001:db8::1")}
	if n := testing.AllocsPerRun(1000, func() {
		for _, ip := range addrs {
			_ = s.ownPortOK(ip, 1500)
			_ = s.ownPortOK(ip, 80)
		}
	}); n != 0 {
		t.Fatalf("ownPortOK allocates %v times per run", n)
	}
	if s.ownPortOK(net.IPv4(127, 0, 0, 1), 80) || s.ownPortOK(net.ParseIP("::ffff:127.0.0.1"), 2001) ||
		!s.ownPortOK(net.IPv4(127, 0, 0, 1), 1500) || !s.ownPortOK(net.ParseIP("::ffff:127.0.0.1"), 1500) ||
		!s.ownPortOK(net.IPv4(127, 0, 0, 2), 80) || s.ownPortOK(net.ParseIP("64:ff9b::7f00:1"), 80) {
		t.Fatal("ownPortOK verdicts wrong")
	}
	// Inside the relay range but without a live allocation: refused.
	if s.ownPortOK(net.IPv4(127, 0, 0, 1), 1000) || s.ownPortOK(net.IPv4(127, 0, 0, 1), 1501) {
		t.Fatal("ownPortOK lets a relay reach a port in the range that no allocation holds")
	}
	s.livePorts.remove(1500)
	if s.ownPortOK(net.IPv4(127, 0, 0, 1), 1500) {
		t.Fatal("ownPortOK still allows the port of an ended allocation")
	}
}

func BenchmarkClassify(b *testing.B) {
	p := mustPolicy(b, nil, nil, "203.0.113.5")
	ip := net.ParseIP("2606:4700:4700::1111")
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Allowed(ip)
	}
}

// FuzzClassify: every IPv4-in-IPv6 encoding of an address gets the verdict
// of the address itself, and Classify never panics.
func FuzzClassify(f *testing.F) {
	for _, s := range [][]byte{
		{127, 0, 0, 1}, {10, 0, 0, 1}, {8, 8, 8, 8}, {169, 254, 169, 254}, {0, 0, 0, 0}, {255, 255, 255, 255},
		netip.MustParseAddr("::ffff:127.0.0.1").AsSlice(), netip.MustParseAddr("2001:db8::1").AsSlice(),
		netip.MustParseAddr("64:ff9b::7f00:1").AsSlice(), netip.MustParseAddr(teredo("10.1.1.1")).AsSlice(),
	} {
		f.Add(s)
	}
	p := mustPolicy(f, nil, nil, "")
	pa := mustPolicy(f, []string{"127.0.0.0/8", "fd00::/8"}, []string{"8.8.8.0/24"}, "192.0.2.1")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		_ = p.ClassifyIP(net.IP(b))
		if !ok {
			return
		}
		for _, pol := range []*peerPolicy{p, pa} {
			r := pol.Classify(a)
			c := canonicalAddr(a)
			if canonicalAddr(c) != c {
				t.Fatalf("Canonical not idempotent: %v -> %v -> %v", a, c, canonicalAddr(c))
			}
			rc := pol.Classify(c)
			if a.Is6() && isLocalNAT64(a.As16()) {
				// Judged under every layout: stricter than its /96 canonical form.
				if r.Allowed() && !rc.Allowed() {
					t.Fatalf("%v (%v) allowed, but canonical %v (%v) refused", a, r, c, rc)
				}
			} else if rc.Allowed() != r.Allowed() {
				t.Fatalf("%v (%v) and canonical %v (%v) disagree", a, r, c, rc)
			}
			if !c.Is4() {
				continue
			}
			v4 := c.As4()
			forms := []netip.Addr{netip.AddrFrom16(netip.AddrFrom4(v4).As16())} // mapped
			var nat64, sixto4, ter, compat [16]byte
			copy(nat64[:], []byte{0, 0x64, 0xff, 0x9b})
			copy(nat64[12:], v4[:])
			sixto4[0], sixto4[1] = 0x20, 0x02
			copy(sixto4[2:], v4[:])
			ter[0], ter[1] = 0x20, 0x01
			for i := range v4 {
				ter[12+i] = v4[i] ^ 0xff
			}
			copy(compat[12:], v4[:])
			forms = append(forms, netip.AddrFrom16(nat64), netip.AddrFrom16(sixto4), netip.AddrFrom16(ter))
			if v4 != [4]byte{} && v4 != [4]byte{0, 0, 0, 1} {
				forms = append(forms, netip.AddrFrom16(compat))
			}
			want := pol.Classify(netip.AddrFrom4(v4))
			for _, fa := range forms {
				if got := pol.Classify(fa); got.Allowed() != want.Allowed() {
					t.Fatalf("%v judged %v, but its IPv4 %v is %v", fa, got, netip.AddrFrom4(v4), want)
				}
			}
		}
	})
}

// rfc6052Layouts are the positions of the embedded IPv4 octets per NAT64
// prefix length (RFC 6052 §2.2; byte 8 is the reserved u octet).
var rfc6052Layouts = map[int][4]int{
	32: {4, 5, 6, 7},
	40: {5, 6, 7, 9},
	48: {6, 7, 9, 10},
	56: {7, 9, 10, 11},
	64: {9, 10, 11, 12},
	96: {12, 13, 14, 15},
}

// embedNAT64 writes v4 into prefix (its first bits/8 bytes are kept) the
// RFC 6052 way for that prefix length; fill supplies the other bytes.
func embedNAT64(prefix netip.Addr, bits int, v4 [4]byte, fill [16]byte) netip.Addr {
	b := fill
	pb := prefix.As16()
	copy(b[:bits/8], pb[:bits/8])
	for i, pos := range rfc6052Layouts[bits] {
		b[pos] = v4[i]
	}
	return netip.AddrFrom16(b)
}

// TestNAT64PrefixLengths: for both NAT64 prefixes, an IPv4 address the table
// refuses is refused in every RFC 6052 layout, whatever the other bits.
func TestNAT64PrefixLengths(t *testing.T) {
	p := mustPolicy(t, nil, nil, "")
	wk := netip.MustParseAddr("64:ff9b::")
	local := netip.MustParseAddr("64:ff9b:1::")
	refused := map[string][4]byte{
		"metadata": {169, 254, 169, 254}, "loopback": {127, 0, 0, 1}, "private": {10, 1, 2, 3},
		"unspecified": {0, 0, 0, 0}, "cgnat": {100, 64, 0, 1},
	}
	fills := [][16]byte{{}, {8: 0, 15: 8}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for _, bits := range []int{32, 40, 48, 56, 64, 96} {
		for name, v4 := range refused {
			for _, pfx := range []netip.Addr{wk, local} {
				if pfx == local && bits < 48 {
					continue // shorter than the local-use prefix itself
				}
				for _, fill := range fills {
					a := embedNAT64(pfx, bits, v4, fill)
					if r := p.Classify(a); r.Allowed() {
						t.Errorf("/%d %s: %v (embeds %v) judged %v", bits, name, a, netip.AddrFrom4(v4), r)
					}
				}
			}
		}
	}
	// The address of the report: 169.254.169.254 the /48 way, 8.8.8.8 the /96 way.
	if r := p.Classify(netip.MustParseAddr("64:ff9b:1:a9fe:a9:fe00:808:808")); r.Allowed() {
		t.Errorf("64:ff9b:1:a9fe:a9:fe00:808:808 judged %v", r)
	}
	// Public in every layout: allowed. So is the well-known /96 form.
	for _, s := range []string{"64:ff9b:1:808:808:808:808:808", "64:ff9b::808:808"} {
		if r := p.Classify(netip.MustParseAddr(s)); r != reasonPublic {
			t.Errorf("%s judged %v, want public", s, r)
		}
	}
}

// FuzzNAT64: no NAT64 form (either prefix, any RFC 6052 length, any other
// bits) of an IPv4 address the policy refuses is allowed. A form that lands
// in the well-known 64:ff9b::/96 is a /96 address, which a translator
// decodes from its last 32 bits: it is judged as those.
func FuzzNAT64(f *testing.F) {
	f.Add([]byte{169, 254, 169, 254}, uint8(2), []byte{})
	f.Add([]byte{127, 0, 0, 1}, uint8(5), []byte{8, 8, 8, 8})
	p := mustPolicy(f, nil, nil, "")
	pa := mustPolicy(f, []string{"192.168.0.0/16"}, []string{"8.8.8.0/24"}, "")
	lengths := []int{32, 40, 48, 56, 64, 96}
	wk96 := netip.MustParsePrefix("64:ff9b::/96")
	f.Fuzz(func(t *testing.T, v4b []byte, which uint8, fillb []byte) {
		if len(v4b) != 4 {
			return
		}
		v4 := [4]byte(v4b)
		var fill [16]byte
		copy(fill[:], fillb)
		bits := lengths[int(which)%len(lengths)]
		pfx := netip.MustParseAddr("64:ff9b::")
		if which&0x80 != 0 && bits >= 48 {
			pfx = netip.MustParseAddr("64:ff9b:1::")
		}
		a := embedNAT64(pfx, bits, v4, fill)
		if wk96.Contains(a) {
			v4 = [4]byte(a.AsSlice()[12:16])
		}
		for _, pol := range []*peerPolicy{p, pa} {
			if pol.Classify(netip.AddrFrom4(v4)).Allowed() {
				continue
			}
			if r := pol.Classify(a); r.Allowed() {
				t.Fatalf("%v (/%d form of refused %v) judged %v", a, bits, netip.AddrFrom4(v4), r)
			}
		}
	})
}
