package client

import (
	"strings"

	"github.com/pion/stun/v3"
	"github.com/pion/webrtc/v4"
)

// Transport names used to select TURN URLs: how the client reaches the relay.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// URLTransport classifies an ICE server URL: "stun" for STUN URLs, otherwise
// the client-to-relay transport of a TURN URL ("udp", "tcp" or "tls"), or ""
// when the URL does not parse. turn: without ?transport= means UDP (RFC 7065).
func URLTransport(raw string) string {
	u, err := stun.ParseURI(raw)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case stun.SchemeTypeSTUN, stun.SchemeTypeSTUNS:
		return "stun"
	case stun.SchemeTypeTURNS:
		return TransportTLS
	case stun.SchemeTypeTURN:
		if u.Proto == stun.ProtoTypeTCP {
			return TransportTCP
		}
		return TransportUDP
	default:
		return ""
	}
}

// FilterICEServers keeps STUN URLs and only those TURN URLs whose transport
// is in keep; servers left without URLs are dropped. An empty keep returns
// the input unchanged. It lets tests and the probe force TURN over TCP or TLS
// even when the server also offers UDP.
func FilterICEServers(in []webrtc.ICEServer, keep []string) []webrtc.ICEServer {
	if len(keep) == 0 {
		return in
	}
	want := map[string]bool{}
	for _, k := range keep {
		want[strings.ToLower(k)] = true
	}
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		var urls []string
		for _, u := range s.URLs {
			tr := URLTransport(u)
			if tr == "stun" || want[tr] {
				urls = append(urls, u)
			}
		}
		if len(urls) == 0 {
			continue
		}
		s.URLs = urls
		out = append(out, s)
	}
	return out
}
