package sfu

import (
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/signal/proto"
)

// candidateSink is a send callback that keeps the server's candidates and
// says when one arrives.
type candidateSink struct {
	mu    sync.Mutex
	cands []webrtc.ICECandidateInit
	got   chan struct{} // one value per candidate, never blocking the server
}

func newCandidateSink() *candidateSink { return &candidateSink{got: make(chan struct{}, 256)} }

func (c *candidateSink) send(s Signal) {
	if s.Kind != proto.KindCandidate {
		return
	}
	var ci webrtc.ICECandidateInit
	if json.Unmarshal(s.Data, &ci) != nil {
		return
	}
	c.mu.Lock()
	c.cands = append(c.cands, ci)
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
}

// first waits for the server's first candidate and parses it.
func (c *candidateSink) first(t *testing.T) ice.Candidate {
	t.Helper()
	select {
	case <-c.got:
	case <-time.After(wait):
		t.Fatalf("no candidate within %v", wait)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cand, err := ice.UnmarshalCandidate(strings.TrimPrefix(c.cands[0].Candidate, "candidate:"))
	if err != nil {
		t.Fatal(err)
	}
	return cand
}

// statsOf returns the stats of room, and whether the server has it.
func statsOf(s *Server, room string) (RoomStats, bool) {
	for _, st := range s.Stats() {
		if st.Room == room {
			return st, true
		}
	}
	return RoomStats{}, false
}

// TestServerRooms checks the rooms' life: created by their first Join,
// counted in Stats, gone when the last participant leaves, made anew by the
// next Join; the candidates use the one UDP port; and a closed server
// refuses joins.
func TestServerRooms(t *testing.T) {
	s := newTestServer(t)
	udp, ok := s.UDPAddr().(*net.UDPAddr)
	if !ok || udp.Port == 0 {
		t.Fatalf("UDPAddr() = %v, want a bound UDP address", s.UDPAddr())
	}
	sink := newCandidateSink()
	a, err := s.Join("one", "a", sink.send)
	if err != nil {
		t.Fatal(err)
	}
	if c := sink.first(t); c.Port() != udp.Port || c.Address() != "127.0.0.1" {
		t.Errorf("server candidate %s:%d, want the mux's %v", c.Address(), c.Port(), udp)
	}
	b, err := s.Join("one", "b", func(Signal) {})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Join("two", "a", func(Signal) {})
	if err != nil {
		t.Fatalf("the same id in another room: %v", err)
	}
	if st, ok := statsOf(s, "one"); !ok || st.Participants != 2 {
		t.Errorf("room one: %+v (present %v), want 2 participants", st, ok)
	}
	if st, ok := statsOf(s, "two"); !ok || st.Participants != 1 {
		t.Errorf("room two: %+v (present %v), want 1 participant", st, ok)
	}
	for _, p := range []*Participant{a, b} {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if st, ok := statsOf(s, "one"); ok {
		t.Errorf("room one outlived its participants: %+v", st)
	}
	if _, err := s.Join("one", "a", func(Signal) {}); err != nil {
		t.Fatalf("join after the room emptied: %v", err)
	}
	if st, ok := statsOf(s, "one"); !ok || st.Participants != 1 {
		t.Errorf("room one made anew: %+v (present %v), want 1 participant", st, ok)
	}

	for _, bad := range []struct {
		room, peer string
		send       func(Signal)
	}{{"", "x", func(Signal) {}}, {"r", "", func(Signal) {}}, {"r", "x", nil}} {
		if _, err := s.Join(bad.room, bad.peer, bad.send); err == nil {
			t.Errorf("Join(%q, %q, send nil: %v) = nil error", bad.room, bad.peer, bad.send == nil)
		}
	}
	if _, ok := statsOf(s, "r"); ok {
		t.Error("a refused join left room r behind")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Join("one", "z", func(Signal) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("join after close: %v, want ErrClosed", err)
	}
	if err := c.HandleSignal(Signal{Kind: proto.KindCandidate, Data: json.RawMessage(`null`)}); err != nil {
		t.Errorf("end of candidates to a closed participant: %v", err)
	}
	if n := len(s.Stats()); n != 0 {
		t.Errorf("closed server reports %d rooms", n)
	}
}

// TestServerConfig checks that PublicIP replaces the host candidates'
// address and that bad settings name their field.
func TestServerConfig(t *testing.T) {
	s, err := NewServer(ServerConfig{UDP: "127.0.0.1:0", Loopback: true, PublicIP: "127.0.0.2", SettingEngine: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	sink := newCandidateSink()
	if _, err := s.Join("r", "a", sink.send); err != nil {
		t.Fatal(err)
	}
	if c := sink.first(t); c.Address() != "127.0.0.2" {
		t.Errorf("candidate address %s, want PublicIP 127.0.0.2", c.Address())
	}

	for _, tc := range []struct {
		cfg   ServerConfig
		field string
	}{
		{ServerConfig{PublicIP: "not-an-ip"}, "PublicIP"},
		{ServerConfig{UDP: "127.0.0.1:notaport"}, "UDP"},
		{ServerConfig{TCP: "127.0.0.1:notaport"}, "TCP"},
	} {
		s, err := NewServer(tc.cfg)
		if err == nil {
			_ = s.Close()
			t.Errorf("NewServer(%+v) = nil error", tc.cfg)
		} else if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("NewServer(%+v) = %v, want it to name %s", tc.cfg, err, tc.field)
		}
	}
}

// TestServerICETCP checks that a client whose network allows only TCP
// reaches the server through the passive ICE-TCP listener.
func TestServerICETCP(t *testing.T) {
	tcpOnly := func(se *webrtc.SettingEngine) {
		loopback(se)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	s, err := NewServer(ServerConfig{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", Loopback: true, SettingEngine: tcpOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	se := webrtc.SettingEngine{}
	tcpOnly(&se)
	api, err := newAPI(&se)
	if err != nil {
		t.Fatal(err)
	}
	a := newPeerWith(t, s, api, testRoom, "a", nil)
	b := newPeerWith(t, s, api, testRoom, "b", nil)
	a.waitMedia(10, "b")
	b.waitMedia(10, "a")
}

// TestRemoteIPAllowed checks which client addresses the server may send
// connectivity checks to.
func TestRemoteIPAllowed(t *testing.T) {
	for _, tc := range []struct {
		ip              string
		plain, withLoop bool
	}{
		{"192.0.2.10", true, true},
		{"2001:db8::1", true, true},
		{"10.1.2.3", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"169.254.169.254", false, false},
		{"169.254.1.1", false, false},
		{"fd00:ec2::254", false, false},
		{"fe80::1", false, false},
		{"224.0.0.251", false, false},
		{"ff02::1", false, false},
		{"239.1.1.1", false, false},
		{"255.255.255.255", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
	} {
		ip := net.ParseIP(tc.ip)
		if got := remoteIPAllowed(ip, false); got != tc.plain {
			t.Errorf("remoteIPAllowed(%s, loopback false) = %v, want %v", tc.ip, got, tc.plain)
		}
		if got := remoteIPAllowed(ip, true); got != tc.withLoop {
			t.Errorf("remoteIPAllowed(%s, loopback true) = %v, want %v", tc.ip, got, tc.withLoop)
		}
	}
	if remoteIPAllowed(nil, true) {
		t.Error("remoteIPAllowed(nil) = true")
	}
}

// TestRefusedCandidates checks that HandleSignal refuses a candidate aimed
// at an address the server must not probe, with an error that says so,
// ignores mDNS names, and still takes a good candidate.
func TestRefusedCandidates(t *testing.T) {
	s, err := NewServer(ServerConfig{UDP: "127.0.0.1:0", SettingEngine: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	p, err := s.Join("r", "x", func(Signal) {})
	if err != nil {
		t.Fatal(err)
	}
	cand := func(addr string, port int) Signal {
		data, _ := json.Marshal(webrtc.ICECandidateInit{
			Candidate: "candidate:1 1 udp 2130706431 " + addr + " " + strconv.Itoa(port) + " typ host"})
		return Signal{Kind: proto.KindCandidate, Data: data}
	}
	for _, addr := range []string{"127.0.0.1", "169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "::"} {
		err := p.HandleSignal(cand(addr, 5000))
		if !errors.Is(err, ErrCandidateRefused) || !strings.Contains(err.Error(), "participant x") {
			t.Errorf("candidate at %s: %v, want ErrCandidateRefused naming the participant", addr, err)
		}
	}
	if err := p.HandleSignal(cand("0b0e5fd8-0c42-4b39-9a52-d8f0c0b5d0c1.local", 5000)); err != nil {
		t.Errorf("mDNS candidate: %v, want it ignored", err)
	}
	if err := p.HandleSignal(cand("192.0.2.10", 5000)); err != nil {
		t.Errorf("candidate at a public address: %v", err)
	}
	if err := p.HandleSignal(cand("host.example", 5000)); err == nil {
		t.Error("candidate with a DNS name accepted")
	}
}
