package signal

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Version is the protocol version this hub speaks.
const Version = 1

// Message types (protocol.md §3).
const (
	typeHello       = "hello"
	typeJoin        = "join"
	typeJoined      = "joined"
	typeLeave       = "leave"
	typeLeft        = "left"
	typeSignal      = "signal"
	typeUpdate      = "update"
	typeICE         = "ice"
	typePing        = "ping"
	typePong        = "pong"
	typeError       = "error"
	typeBye         = "bye"
	typePeerJoined  = "peer-joined"
	typePeerLeft    = "peer-left"
	typePeerUpdated = "peer-updated"
)

// inTypes are the types a client may send, in Stats order.
var inTypes = []string{typeHello, typeJoin, typeLeave, typeSignal, typeUpdate, typeICE, typePing}

// Error codes (protocol.md §4). Stable: programs match on them.
const (
	codeBadRequest         = "bad_request"
	codeUnknownType        = "unknown_type"
	codeMissingField       = "missing_field"
	codeUnsupportedVersion = "unsupported_version"
	codeHelloRequired      = "hello_required"
	codeAlreadyHello       = "already_hello"
	codeUnauthorized       = "unauthorized"
	codeTokenExpired       = "token_expired"
	codeForbidden          = "forbidden"
	codeThrottled          = "throttled"
	codeNoSuchSession      = "no_such_session"
	codeNotInRoom          = "not_in_room"
	codeAlreadyJoined      = "already_joined"
	codeRoomFull           = "room_full"
	codeUnknownPeer        = "unknown_peer"
	codeRateLimited        = "rate_limited"
	codeInternal           = "internal"
)

var errorCodes = []string{
	codeBadRequest, codeUnknownType, codeMissingField, codeUnsupportedVersion, codeHelloRequired,
	codeAlreadyHello, codeUnauthorized, codeTokenExpired, codeForbidden, codeThrottled, codeNoSuchSession,
	codeNotInRoom, codeAlreadyJoined, codeRoomFull, codeUnknownPeer, codeRateLimited, codeInternal,
}

// Signal kinds (protocol.md §3.6); the server never looks inside data.
var signalKinds = map[string]bool{"offer": true, "answer": true, "candidate": true, "restart": true}

const (
	maxIDBytes   = 64
	maxNameRunes = 64
	maxRoomLen   = 64  // characters
	maxRoomBytes = 256 // before normalization: 64 characters of up to 4 bytes
	defaultName  = "guest"
)

// protoError is a client-visible error: a stable code and a human message.
type protoError struct {
	code string
	msg  string
}

func (e *protoError) Error() string { return "signal: " + e.code + ": " + e.msg }

func perr(code, format string, args ...any) *protoError {
	return &protoError{code: code, msg: fmt.Sprintf(format, args...)}
}

// State is a peer's media state as shown to the others.
type State struct {
	Audio  bool `json:"audio"`
	Video  bool `json:"video"`
	Screen bool `json:"screen"`
}

// stateIn is a partial state update; absent keys keep their value and
// unknown keys are dropped.
type stateIn struct {
	Audio  *bool `json:"audio,omitempty"`
	Video  *bool `json:"video,omitempty"`
	Screen *bool `json:"screen,omitempty"`
}

func (s State) apply(in *stateIn) State {
	if in == nil {
		return s
	}
	if in.Audio != nil {
		s.Audio = *in.Audio
	}
	if in.Video != nil {
		s.Video = *in.Video
	}
	if in.Screen != nil {
		s.Screen = *in.Screen
	}
	return s
}

// inMsg is any client message: the envelope is flat, so one struct holds
// the fields of every type.
type inMsg struct {
	V      json.RawMessage `json:"v,omitempty"`
	Type   string          `json:"type"`
	ID     string          `json:"id,omitempty"`
	Name   *string         `json:"name,omitempty"`
	Token  string          `json:"token,omitempty"`
	Resume string          `json:"resume,omitempty"`
	Client string          `json:"client,omitempty"`
	Room   string          `json:"room,omitempty"`
	To     string          `json:"to,omitempty"`
	Kind   string          `json:"kind,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	State  *stateIn        `json:"state,omitempty"`
}

// decode parses and validates one client frame. On error it still returns
// whatever id it could recover, so the error reply can echo it.
func decode(b []byte) (inMsg, *protoError) {
	var m inMsg
	if err := json.Unmarshal(b, &m); err != nil {
		m = inMsg{ID: recoverID(b)}
		return m, perr(codeBadRequest, "malformed message: %s", jsonErrText(err))
	}
	if path, dup := dupKey(b); dup {
		if foldKey(path) == "id" {
			m.ID = "" // which of the two ids would be a guess
		}
		return m, perr(codeBadRequest, "duplicate key %q; every key may appear once per object", clip(path, 64))
	}
	if len(m.ID) > maxIDBytes {
		m.ID = ""
		return m, perr(codeBadRequest, "id longer than %d bytes", maxIDBytes)
	}
	if m.Type == "" {
		return m, perr(codeMissingField, "missing field type")
	}
	switch m.Type {
	case typeHello:
		if len(m.V) == 0 {
			return m, perr(codeMissingField, "missing field v")
		}
		var v float64
		if json.Unmarshal(m.V, &v) != nil || v != Version {
			return m, perr(codeUnsupportedVersion, "protocol version %s is not supported; this server speaks 1", clip(string(m.V), 16))
		}
		if m.Name != nil {
			n, err := cleanName(*m.Name)
			if err != nil {
				return m, err
			}
			if n == "" {
				n = defaultName
			}
			m.Name = &n
		}
		if !validClient(m.Client) {
			return m, perr(codeBadRequest, "client must be at most %d characters of A-Z a-z 0-9 _ -", maxIDBytes)
		}
	case typeJoin:
		if m.Room == "" {
			return m, perr(codeMissingField, "missing field room")
		}
		room, ok := canonicalRoom(m.Room)
		if !ok {
			return m, perr(codeBadRequest, "room name must be 1-%d letters, digits, _ . or -", maxRoomLen)
		}
		m.Room = room
	case typeSignal:
		switch {
		case m.To == "":
			return m, perr(codeMissingField, "missing field to")
		case m.Kind == "":
			return m, perr(codeMissingField, "missing field kind")
		case len(m.Data) == 0:
			return m, perr(codeMissingField, "missing field data")
		case !signalKinds[m.Kind]:
			return m, perr(codeBadRequest, "kind %q is not offer, answer, candidate or restart", clip(m.Kind, 32))
		}
	case typeUpdate:
		if m.Name != nil {
			n, err := cleanName(*m.Name)
			if err != nil {
				return m, err
			}
			if n == "" {
				return m, perr(codeBadRequest, "name must be 1-%d characters", maxNameRunes)
			}
			m.Name = &n
		}
	case typeLeave, typeICE, typePing:
	default:
		return m, perr(codeUnknownType, "unknown type %q", clip(m.Type, 32))
	}
	return m, nil
}

// recoverID digs the id out of a frame that failed to decode as a whole
// (say a field of the wrong type), so the error can still be matched.
func recoverID(b []byte) string {
	var env struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(b, &env) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(env.ID, &id) != nil || len(id) > maxIDBytes {
		return ""
	}
	return id
}

// jsonErrText describes a decode error without echoing the client's bytes.
func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "a message must be a JSON object"
		}
		return "field " + te.Field + " must be a " + jsonKind(te.Type.Kind().String())
	}
	return "invalid JSON"
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool", "ptr":
		return "boolean"
	case "struct", "map":
		return "object"
	}
	return k
}

func cleanName(s string) (string, *protoError) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxNameRunes {
		return "", perr(codeBadRequest, "name must be 1-%d characters", maxNameRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", perr(codeBadRequest, "name must not contain control characters")
		}
	}
	return s, nil
}

// CanonicalRoom is canonicalRoom for the web app's routes, which answer a
// bad room link with the call page's explanation and a 404 status.
func CanonicalRoom(s string) (string, bool) { return canonicalRoom(s) }

// canonicalRoom returns the room name s designates, NFC-normalized so that
// the same name typed on any keyboard is the same room, and whether it is
// valid: 1-64 characters, each a letter (with its combining marks) or digit
// of any script, or one of _ . -, and not "." or "..".
func canonicalRoom(s string) (string, bool) {
	if !utf8.ValidString(s) || len(s) > maxRoomBytes {
		return "", false
	}
	s = norm.NFC.String(s)
	if n := utf8.RuneCountInString(s); n < 1 || n > maxRoomLen || s == "." || s == ".." {
		return "", false
	}
	for i, r := range s {
		switch {
		case r == '_' || r == '.' || r == '-':
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case unicode.IsMark(r) && i > 0:
		default:
			return "", false
		}
	}
	return s, true
}

// validASCIIName reports whether s is 1-64 characters of A-Z a-z 0-9 _ . -,
// the rule for node ids and key prefixes, which appear in Redis keys and
// resume tokens.
func validASCIIName(s string) bool {
	if len(s) < 1 || len(s) > maxRoomLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validClient reports whether s is an acceptable client id: empty, or up
// to maxIDBytes of A-Z a-z 0-9 _ -.
func validClient(s string) bool {
	if len(s) > maxIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// peerInfo describes a peer in joined/peer-* messages. Polite is from the
// recipient's point of view: true means the recipient is the polite side.
type peerInfo struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	State  *State `json:"state,omitempty"`
	Polite *bool  `json:"polite,omitempty"`
	// Away: the peer's signaling connection is gone and the server waits
	// for it to resume (up to Signal.ResumeWindow).
	Away bool `json:"away,omitempty"`
}

// iceServer is one RTCIceServer.
type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

type limitsOut struct {
	MaxMessageBytes   int `json:"maxMessageBytes"`
	MessagesPerSecond int `json:"messagesPerSecond"`
	RoomSize          int `json:"roomSize"`
}

type heartbeatOut struct {
	Interval float64 `json:"interval"`
	Timeout  float64 `json:"timeout"`
}

type helloOut struct {
	V          int          `json:"v"`
	Type       string       `json:"type"`
	ID         string       `json:"id,omitempty"`
	PeerID     string       `json:"peerId"`
	Resume     string       `json:"resume"`
	Resumed    bool         `json:"resumed"`
	Room       string       `json:"room,omitempty"`
	Peers      any          `json:"peers,omitempty"`
	IceServers []iceServer  `json:"iceServers"`
	IceTTL     int64        `json:"iceTTL"`
	IceExpires int64        `json:"iceExpires"`
	Limits     limitsOut    `json:"limits"`
	Heartbeat  heartbeatOut `json:"heartbeat"`
}

type iceOut struct {
	V          int         `json:"v"`
	Type       string      `json:"type"`
	ID         string      `json:"id,omitempty"`
	IceServers []iceServer `json:"iceServers"`
	IceTTL     int64       `json:"iceTTL"`
	IceExpires int64       `json:"iceExpires"`
}

// out is every other server message; omitempty keeps each type to its fields.
type out struct {
	V       int             `json:"v"`
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
	Room    string          `json:"room,omitempty"`
	Peers   any             `json:"peers,omitempty"` // a non-nil slice, so [] stays
	Peer    *peerInfo       `json:"peer,omitempty"`
	From    string          `json:"from,omitempty"`
	Kind    string          `json:"kind,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"` // "null" is kept: it is not empty
	Reason  string          `json:"reason,omitempty"`
	// Reconnect and RetryAfterMs belong to bye.
	Reconnect    *bool `json:"reconnect,omitempty"`
	RetryAfterMs int   `json:"retryAfterMs,omitempty"`
}

// mustJSON marshals server-built values, which cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("signal: encode %T: %v", v, err))
	}
	return b
}

func errorMsg(id string, e *protoError) []byte {
	return mustJSON(out{V: Version, Type: typeError, ID: id, Code: e.code, Message: e.msg})
}
