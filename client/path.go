package client

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// ErrNoPath means ICE has not selected a candidate pair yet.
var ErrNoPath = errors.New("client: no selected candidate pair")

// PathInfo describes the network path ICE selected to one peer.
type PathInfo struct {
	LocalType  string // host, srflx, prflx or relay
	RemoteType string
	LocalAddr  string // ip:port of the local candidate
	RemoteAddr string
	// Protocol is the candidate pair's transport (udp, or tcp for ICE-TCP).
	Protocol string
	// RelayProtocol is how we reach our TURN server when the local candidate
	// is a relay one: udp, tcp or tls. Empty otherwise.
	RelayProtocol string
	// RTT is the latest STUN round trip on the pair (0 if not measured yet).
	RTT time.Duration
	// TimeToConnected is from creating the PeerConnection to "connected".
	TimeToConnected time.Duration
}

// Relayed reports whether either end of the path is a TURN relay.
func (p PathInfo) Relayed() bool { return p.LocalType == "relay" || p.RemoteType == "relay" }

// Kind is a short label for reports: "direct/udp", "relay/tcp", ...
// For a relayed path the transport is the one to our TURN server when we
// hold the relay candidate, else the pair's protocol.
func (p PathInfo) Kind() string {
	if !p.Relayed() {
		return "direct/" + p.Protocol
	}
	if p.RelayProtocol != "" {
		return "relay/" + p.RelayProtocol
	}
	return "relay(remote)/" + p.Protocol
}

func (p PathInfo) String() string {
	return fmt.Sprintf("%s %s %s -> %s %s rtt=%s connected-in=%s", p.Kind(),
		p.LocalType, p.LocalAddr, p.RemoteType, p.RemoteAddr, p.RTT, p.TimeToConnected.Round(time.Millisecond))
}

func (p *peer) path() (PathInfo, error) {
	pc := p.getPC()
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return PathInfo{}, ErrNoPath
	}
	pairStats, ok := sctp.Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok {
		return PathInfo{}, ErrNoPath
	}
	var info PathInfo
	report := pc.GetStats()
	if s, ok := report[pairStats.LocalCandidateID].(webrtc.ICECandidateStats); ok {
		info.LocalType = s.CandidateType.String()
		info.LocalAddr = fmt.Sprintf("%s:%d", s.IP, s.Port)
		info.Protocol = s.Protocol
		info.RelayProtocol = s.RelayProtocol
	}
	if s, ok := report[pairStats.RemoteCandidateID].(webrtc.ICECandidateStats); ok {
		info.RemoteType = s.CandidateType.String()
		info.RemoteAddr = fmt.Sprintf("%s:%d", s.IP, s.Port)
	}
	if info.LocalType == "" {
		// Fall back to the ICE transport's own view.
		pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			return PathInfo{}, ErrNoPath
		}
		info.LocalType, info.RemoteType = pair.Local.Typ.String(), pair.Remote.Typ.String()
		info.LocalAddr = fmt.Sprintf("%s:%d", pair.Local.Address, pair.Local.Port)
		info.RemoteAddr = fmt.Sprintf("%s:%d", pair.Remote.Address, pair.Remote.Port)
		info.Protocol = pair.Local.Protocol.String()
	}
	rtt := pairStats.CurrentRoundTripTime
	if rtt == 0 && pairStats.ResponsesReceived > 0 {
		rtt = pairStats.TotalRoundTripTime / float64(pairStats.ResponsesReceived)
	}
	info.RTT = time.Duration(rtt * float64(time.Second))
	p.mu.Lock()
	if !p.connectedAt.IsZero() {
		info.TimeToConnected = p.connectedAt.Sub(p.created)
	}
	p.mu.Unlock()
	return info, nil
}

type rtpPacket struct{ rtp.Packet }

var rtpPacketPool = sync.Pool{New: func() any { return new(rtpPacket) }}
