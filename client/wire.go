package client

import (
	"encoding/json"

	"github.com/pion/webrtc/v4"
)

// ProtocolVersion is the signaling protocol version this package speaks.
const ProtocolVersion = 1

// DataChannelLabel and DataChannelID describe the one data channel between
// two peers. Like the web app (web/static/js/peer.js), both sides create it
// as a negotiated channel (negotiated: true, id 0) when they create the
// PeerConnection, so neither waits for the other to open it. The web app
// sends JSON text messages on it ({"t":"chat","text":...}); see SendChat.
const (
	DataChannelLabel        = "rtcd"
	DataChannelID    uint16 = 0
)

// PeerInfo describes another peer in the room, as the server announces it.
type PeerInfo struct {
	ID     string          `json:"id"`
	Name   string          `json:"name,omitempty"`
	State  map[string]bool `json:"state,omitempty"`
	Polite bool            `json:"polite,omitempty"`
}

// Limits are the server's advertised limits from the hello reply.
type Limits struct {
	MaxMessageBytes   int `json:"maxMessageBytes"`
	MessagesPerSecond int `json:"messagesPerSecond"`
	RoomSize          int `json:"roomSize"`
}

// wireICEServer is one iceServers entry as JSON; urls may be a string or a list.
type wireICEServer struct {
	URLs       json.RawMessage `json:"urls"`
	Username   string          `json:"username,omitempty"`
	Credential string          `json:"credential,omitempty"`
}

// message is the flat envelope of every signaling message, both directions.
// Only the fields that a type uses are set.
type message struct {
	V    int    `json:"v,omitempty"`
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`

	// hello
	Name    string  `json:"name,omitempty"`
	Token   string  `json:"token,omitempty"`
	Resume  string  `json:"resume,omitempty"`
	PeerID  string  `json:"peerId,omitempty"`
	Resumed bool    `json:"resumed,omitempty"`
	Limits  *Limits `json:"limits,omitempty"`

	// hello / ice
	ICEServers []wireICEServer `json:"iceServers,omitempty"`
	ICETTL     int64           `json:"iceTTL,omitempty"`
	ICEExpires int64           `json:"iceExpires,omitempty"`

	// join / joined / presence / update
	Room  string          `json:"room,omitempty"`
	Peers []PeerInfo      `json:"peers,omitempty"`
	Peer  *PeerInfo       `json:"peer,omitempty"`
	State map[string]bool `json:"state,omitempty"`

	// signal
	To   string          `json:"to,omitempty"`
	From string          `json:"from,omitempty"`
	Kind string          `json:"kind,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`

	// error / bye
	Code         string `json:"code,omitempty"`
	Message      string `json:"message,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Reconnect    bool   `json:"reconnect,omitempty"`
	RetryAfterMs int    `json:"retryAfterMs,omitempty"`
}

// ServerError is an `error` message from the server (docs/protocol.md §4).
type ServerError struct {
	Code    string
	Message string
}

func (e *ServerError) Error() string { return "client: server error " + e.Code + ": " + e.Message }

// parseICEServers converts the wire form into pion's configuration type.
func parseICEServers(in []wireICEServer) ([]webrtc.ICEServer, error) {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		var urls []string
		if len(s.URLs) > 0 && s.URLs[0] == '"' {
			var one string
			if err := json.Unmarshal(s.URLs, &one); err != nil {
				return nil, err
			}
			urls = []string{one}
		} else if err := json.Unmarshal(s.URLs, &urls); err != nil {
			return nil, err
		}
		srv := webrtc.ICEServer{URLs: urls, Username: s.Username}
		if s.Credential != "" {
			srv.Credential = s.Credential
			srv.CredentialType = webrtc.ICECredentialTypePassword
		}
		out = append(out, srv)
	}
	return out, nil
}
