package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/zeromicro/go-zero/core/logx"
)

// ErrCandidateRefused is wrapped by the error HandleSignal returns for a
// candidate whose address the server will not send connectivity checks to
// (link-local, multicast, unspecified, cloud metadata, loopback unless
// ServerConfig.Loopback): a client must not be able to aim the server's
// packets at the server's own host or its neighbours.
var ErrCandidateRefused = errors.New("candidate address refused")

// metadataAddrs are the cloud instance metadata services, reachable only
// from the instance itself.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
}

// remoteIPAllowed reports whether the server may send to ip, a client's
// candidate address. It is pion's remote IP filter as well, so candidates
// inside a client's SDP meet the same rule.
func remoteIPAllowed(ip net.IP, loopback bool) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	addr = addr.Unmap()
	for _, m := range metadataAddrs {
		if addr == m {
			return false
		}
	}
	switch {
	case addr.IsUnspecified(), addr.IsMulticast(), addr.IsLinkLocalUnicast(),
		addr.IsLinkLocalMulticast(), addr.IsInterfaceLocalMulticast(),
		addr == netip.IPv4Unspecified(), addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return false
	case addr.IsLoopback():
		return loopback
	}
	return true
}

// parseCandidate decodes a client's RTCIceCandidateInit. It returns nil
// for the end of candidates and for an mDNS name, which the server does not
// resolve (its checks to the client's other candidates do the work).
func parseCandidate(data json.RawMessage, loopback bool) (*webrtc.ICECandidateInit, error) {
	var c *webrtc.ICECandidateInit
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	if c == nil || c.Candidate == "" {
		return nil, nil
	}
	cand, err := ice.UnmarshalCandidate(strings.TrimPrefix(c.Candidate, "candidate:"))
	if err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	addr := cand.Address()
	if strings.HasSuffix(addr, ".local") {
		logx.Debugw("sfu: mDNS candidate ignored", logx.Field("address", addr))
		return nil, nil
	}
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, fmt.Errorf("candidate: address %q is not an IP address", addr)
	}
	if !remoteIPAllowed(ip, loopback) {
		return nil, fmt.Errorf("%w: %s", ErrCandidateRefused, ip)
	}
	return c, nil
}
