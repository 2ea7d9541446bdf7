package proto

import (
	"encoding/json"
	"fmt"
)

// State is a peer's media state as shown to the others.
type State struct {
	Audio  bool `json:"audio"`
	Video  bool `json:"video"`
	Screen bool `json:"screen"`
	// Hand is a raised hand, for the people panel; omitted while down, so
	// clients that predate it see the state they know.
	Hand bool `json:"hand,omitempty"`
}

// StateUpdate is a partial State: absent keys keep their value, and unknown
// keys are dropped.
type StateUpdate struct {
	Audio  *bool `json:"audio,omitempty"`
	Video  *bool `json:"video,omitempty"`
	Screen *bool `json:"screen,omitempty"`
	Hand   *bool `json:"hand,omitempty"`
}

// Apply returns s with the keys present in u changed.
func (s State) Apply(u *StateUpdate) State {
	if u == nil {
		return s
	}
	if u.Audio != nil {
		s.Audio = *u.Audio
	}
	if u.Video != nil {
		s.Video = *u.Video
	}
	if u.Screen != nil {
		s.Screen = *u.Screen
	}
	if u.Hand != nil {
		s.Hand = *u.Hand
	}
	return s
}

// ClientMessage is any message a client sends. The envelope is flat, so one
// struct holds the fields of every client type; Decode validates it.
type ClientMessage struct {
	// V is kept raw so that Decode can tell 1 from "1" or 1.5.
	V    json.RawMessage `json:"v,omitempty"`
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	// Name is a pointer because update tells "no change" from a new name.
	Name   *string         `json:"name,omitempty"`
	Token  string          `json:"token,omitempty"`
	Resume string          `json:"resume,omitempty"`
	Client string          `json:"client,omitempty"`
	Room   string          `json:"room,omitempty"`
	To     string          `json:"to,omitempty"`
	Kind   string          `json:"kind,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	State  *StateUpdate    `json:"state,omitempty"`
	// Password is join's room password, and a password host action's new
	// one ("" clears it).
	Password string `json:"password,omitempty"`
	// Action and Target belong to host: what to do, and to which peer.
	Action string `json:"action,omitempty"`
	Target string `json:"target,omitempty"`
}

// PeerInfo describes a peer in joined and peer-* messages. Polite is from the
// recipient's point of view: true means the recipient is the polite side.
type PeerInfo struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	State  *State `json:"state,omitempty"`
	Polite *bool  `json:"polite,omitempty"`
	// Away: the peer's signaling connection is gone and the server waits
	// for it to resume (up to Signal.ResumeWindow).
	Away bool `json:"away,omitempty"`
	// Host: the peer is a host of the room (§3.11).
	Host bool `json:"host,omitempty"`
}

// RoomSettings are what hosts set on a room, as every member sees them:
// whether it is locked (joins wait in the lobby) and whether it has a
// password (never the password itself).
type RoomSettings struct {
	Locked   bool `json:"locked"`
	Password bool `json:"password"`
}

// IsPolite reports Polite, false when absent.
func (p PeerInfo) IsPolite() bool { return p.Polite != nil && *p.Polite }

// ICEServer is one RTCIceServer.
type ICEServer struct {
	URLs       URLList `json:"urls"`
	Username   string  `json:"username,omitempty"`
	Credential string  `json:"credential,omitempty"`
}

// URLList is an RTCIceServer's urls: the server sends a list, and a lone
// string (which RTCIceServer also allows) decodes as a list of one.
type URLList []string

// UnmarshalJSON accepts a string or a list of strings.
func (u *URLList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*u = URLList{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(u))
}

// Limits are the hub's limits, advertised in the hello reply.
type Limits struct {
	MaxMessageBytes   int `json:"maxMessageBytes"`
	MessagesPerSecond int `json:"messagesPerSecond"`
	RoomSize          int `json:"roomSize"`
}

// Heartbeat tells a client how often to ping (Interval) and how long the
// server waits for a frame before it closes the socket (Timeout), in seconds.
type Heartbeat struct {
	Interval float64 `json:"interval"`
	Timeout  float64 `json:"timeout"`
}

// Hello is the server's reply to hello. Every field but id, room and peers
// is always present.
type Hello struct {
	V       int        `json:"v"`
	Type    string     `json:"type"`
	ID      string     `json:"id,omitempty"`
	PeerID  string     `json:"peerId"`
	Resume  string     `json:"resume"`
	Resumed bool       `json:"resumed"`
	Room    string     `json:"room,omitempty"`
	Peers   []PeerInfo `json:"peers,omitzero"`  // nil: not resumed into a room; [] stays
	Media   string     `json:"media,omitempty"` // the room's media mode, as in joined
	// Settings and Host are as in joined, when resumed into a room.
	Settings   *RoomSettings `json:"settings,omitempty"`
	Host       bool          `json:"host,omitempty"`
	IceServers []ICEServer   `json:"iceServers"`
	IceTTL     int64         `json:"iceTTL"`
	IceExpires int64         `json:"iceExpires"`
	Limits     Limits        `json:"limits"`
	Heartbeat  Heartbeat     `json:"heartbeat"`
}

// ICE is the reply to ice and the push before credentials expire.
type ICE struct {
	V          int         `json:"v"`
	Type       string      `json:"type"`
	ID         string      `json:"id,omitempty"`
	IceServers []ICEServer `json:"iceServers"`
	IceTTL     int64       `json:"iceTTL"`
	IceExpires int64       `json:"iceExpires"`
}

// ServerMessage is every other server message; omitempty keeps each type to
// its fields. A client decodes any frame into it first, and a hello or ice
// frame again into Hello or ICE.
type ServerMessage struct {
	V       int             `json:"v"`
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
	Room    string          `json:"room,omitempty"`
	Peers   []PeerInfo      `json:"peers,omitzero"` // joined sends a non-nil slice, so [] stays
	Peer    *PeerInfo       `json:"peer,omitempty"`
	From    string          `json:"from,omitempty"`
	Kind    string          `json:"kind,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"` // "null" is kept: it is not empty
	Reason  string          `json:"reason,omitempty"`
	// Media is joined's media mode (MediaMesh, MediaSFU); Mode is media's.
	Media string `json:"media,omitempty"`
	Mode  string `json:"mode,omitempty"`
	// Reconnect and RetryAfterMs belong to bye.
	Reconnect    *bool `json:"reconnect,omitempty"`
	RetryAfterMs int   `json:"retryAfterMs,omitempty"`
	// Settings (joined, room-updated) are the room's; Host (joined,
	// room-updated) says the recipient is a host of it.
	Settings *RoomSettings `json:"settings,omitempty"`
	Host     bool          `json:"host,omitempty"`
	// Action (host, host-request) and Target (host) as in the client's host
	// message.
	Action string `json:"action,omitempty"`
	Target string `json:"target,omitempty"`
}

// Tile is the size in CSS pixels of a remote participant's video as shown;
// 0×0 means not visible.
type Tile struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// Layers is the data of a KindLayers signal: the tile of every remote
// participant by peer id. A peer missing from Tiles is not visible.
type Layers struct {
	Tiles map[string]Tile `json:"tiles"`
}

// Check reports the first way l breaks the protocol's limits: no tiles
// object, more than MaxTiles tiles, or a side outside 0-MaxTileSide.
func (l Layers) Check() *Error {
	if l.Tiles == nil {
		return Errorf(CodeBadRequest, "layers data has no tiles object")
	}
	if len(l.Tiles) > MaxTiles {
		return Errorf(CodeBadRequest, "layers data has %d tiles, at most %d", len(l.Tiles), MaxTiles)
	}
	for peer, t := range l.Tiles {
		if t.Width < 0 || t.Height < 0 || t.Width > MaxTileSide || t.Height > MaxTileSide {
			return Errorf(CodeBadRequest, "tile of %q is %dx%d, each side 0-%d", Clip(peer, MaxIDBytes),
				t.Width, t.Height, MaxTileSide)
		}
	}
	return nil
}

// Speaker is the data of a KindSpeaker signal: the dominant speaker's peer
// id, "" when nobody speaks.
type Speaker struct {
	Peer string `json:"peer"`
}

// DataMessage is a message on the data channel between two peers, or
// between a client and the SFU, which relays it to the room.
type DataMessage struct {
	T      string `json:"t"`
	Text   string `json:"text,omitempty"`   // chat
	PeerID string `json:"peerId,omitempty"` // rebind
	// From is the sender's peer id, set by the SFU on what it relays (a
	// client's own is replaced); in the mesh the channel's peer is the
	// sender and From is empty.
	From string `json:"from,omitempty"`
}

// Marshal encodes a message the server or a client built, which cannot
// fail to encode.
func Marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("proto: encode %T: %v", v, err))
	}
	return b
}

// ErrorFrame encodes an error reply to the request with id.
func ErrorFrame(id string, e *Error) []byte {
	return Marshal(ServerMessage{V: Version, Type: TypeError, ID: id, Code: e.Code, Message: e.Message})
}
