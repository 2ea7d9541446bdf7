package proto

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Error is a client-visible error: a stable code (Code*) and a message for
// people.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "signal: " + e.Code + ": " + e.Message }

// Errorf returns an Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Decode parses and validates one client frame: the envelope, the fields its
// type needs, and their limits; a room name comes back canonical and a name
// cleaned. On error it still returns whatever id it could recover, so the
// error reply can echo it.
func Decode(b []byte) (ClientMessage, *Error) {
	var m ClientMessage
	if err := json.Unmarshal(b, &m); err != nil {
		m = ClientMessage{ID: RecoverID(b)}
		return m, Errorf(CodeBadRequest, "malformed message: %s", jsonErrText(err))
	}
	if path, dup := dupKey(b); dup {
		if foldKey(path) == "id" {
			m.ID = "" // which of the two ids would be a guess
		}
		return m, Errorf(CodeBadRequest, "duplicate key %q; every key may appear once per object", Clip(path, 64))
	}
	if len(m.ID) > MaxIDBytes {
		m.ID = ""
		return m, Errorf(CodeBadRequest, "id longer than %d bytes", MaxIDBytes)
	}
	if m.Type == "" {
		return m, Errorf(CodeMissingField, "missing field type")
	}
	switch m.Type {
	case TypeHello:
		if len(m.V) == 0 {
			return m, Errorf(CodeMissingField, "missing field v")
		}
		var v float64
		if json.Unmarshal(m.V, &v) != nil || v != Version {
			return m, Errorf(CodeUnsupportedVersion, "protocol version %s is not supported; this server speaks 1", Clip(string(m.V), 16))
		}
		if m.Name != nil {
			n, err := CleanName(*m.Name)
			if err != nil {
				return m, err
			}
			if n == "" {
				n = DefaultName
			}
			m.Name = &n
		}
		if !ValidClient(m.Client) {
			return m, Errorf(CodeBadRequest, "client must be at most %d characters of A-Z a-z 0-9 _ -", MaxIDBytes)
		}
	case TypeJoin:
		if m.Room == "" {
			return m, Errorf(CodeMissingField, "missing field room")
		}
		room, ok := CanonicalRoom(m.Room)
		if !ok {
			return m, Errorf(CodeBadRequest, "room name must be 1-%d letters, digits, _ . or -", MaxRoomRunes)
		}
		m.Room = room
	case TypeHost:
		switch {
		case m.Action == "":
			return m, Errorf(CodeMissingField, "missing field action")
		case !slices.Contains(HostActions, m.Action):
			return m, Errorf(CodeBadRequest, "action %q is not one of %s", Clip(m.Action, 32), strings.Join(HostActions, ", "))
		case PeerAction(m.Action) && m.Target == "":
			return m, Errorf(CodeMissingField, "missing field target")
		case len(m.Target) > MaxIDBytes:
			return m, Errorf(CodeBadRequest, "target longer than %d bytes", MaxIDBytes)
		}
	case TypeSignal:
		switch {
		case m.To == "":
			return m, Errorf(CodeMissingField, "missing field to")
		case m.Kind == "":
			return m, Errorf(CodeMissingField, "missing field kind")
		case len(m.Data) == 0:
			return m, Errorf(CodeMissingField, "missing field data")
		case m.To == SFUPeer && m.Kind == KindLayers:
			var l Layers
			if err := json.Unmarshal(m.Data, &l); err != nil {
				return m, Errorf(CodeBadRequest, "layers data must be {\"tiles\":{peer:{width,height}}}")
			}
			if err := l.Check(); err != nil {
				return m, err
			}
		case !ValidKind(m.Kind):
			return m, Errorf(CodeBadRequest, "kind %q is not offer, answer, candidate or restart", Clip(m.Kind, 32))
		}
	case TypeUpdate:
		if m.Name != nil {
			n, err := CleanName(*m.Name)
			if err != nil {
				return m, err
			}
			if n == "" {
				return m, Errorf(CodeBadRequest, "name must be 1-%d characters", MaxNameRunes)
			}
			m.Name = &n
		}
	case TypeLeave, TypeICE, TypePing:
	default:
		return m, Errorf(CodeUnknownType, "unknown type %q", Clip(m.Type, 32))
	}
	if m.Type == TypeJoin || m.Type == TypeHost {
		return m, checkPassword(m.Password)
	}
	return m, nil
}

// checkPassword checks a room password: at most MaxPasswordRunes
// characters of valid UTF-8 without control characters. Unlike names,
// passwords are not trimmed: every character counts.
func checkPassword(p string) *Error {
	if !utf8.ValidString(p) || utf8.RuneCountInString(p) > MaxPasswordRunes {
		return Errorf(CodeBadRequest, "password must be at most %d characters", MaxPasswordRunes)
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			return Errorf(CodeBadRequest, "password must not contain control characters")
		}
	}
	return nil
}

// ValidKind reports whether k is a signal kind.
func ValidKind(k string) bool {
	switch k {
	case KindOffer, KindAnswer, KindCandidate, KindRestart:
		return true
	}
	return false
}

// RecoverID digs the id out of a frame that failed to decode as a whole (say
// a field of the wrong type) or that is refused unread (by the rate limit),
// so the error reply can still be matched to its request.
func RecoverID(b []byte) string {
	var env struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(b, &env) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(env.ID, &id) != nil || len(id) > MaxIDBytes {
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

// CleanName trims a display name and checks it: at most MaxNameRunes
// characters, valid UTF-8, no control characters. Empty is returned as is;
// what it means depends on the message.
func CleanName(s string) (string, *Error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNameRunes {
		return "", Errorf(CodeBadRequest, "name must be 1-%d characters", MaxNameRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", Errorf(CodeBadRequest, "name must not contain control characters")
		}
	}
	return s, nil
}

// CanonicalRoom returns the room name s designates, NFC-normalized so that
// the same name typed on any keyboard is the same room, and whether it is
// valid: 1-64 characters, each a letter (with its combining marks) or digit
// of any script, or one of _ . -, and not "." or "..".
func CanonicalRoom(s string) (string, bool) {
	if !utf8.ValidString(s) || len(s) > MaxRoomBytes {
		return "", false
	}
	s = norm.NFC.String(s)
	if n := utf8.RuneCountInString(s); n < 1 || n > MaxRoomRunes || s == "." || s == ".." {
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

// ValidASCIIName reports whether s is 1-64 characters of A-Z a-z 0-9 _ . -,
// the rule for node ids and key prefixes, which appear in Redis keys and
// resume tokens.
func ValidASCIIName(s string) bool {
	if len(s) < 1 || len(s) > MaxRoomRunes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !asciiNameByte(s[i], true) {
			return false
		}
	}
	return true
}

// ValidClient reports whether s is an acceptable client id: empty, or up
// to MaxIDBytes of A-Z a-z 0-9 _ -.
func ValidClient(s string) bool {
	if len(s) > MaxIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !asciiNameByte(s[i], false) {
			return false
		}
	}
	return true
}

func asciiNameByte(c byte, dot bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || dot && c == '.'
}

// Clip shortens s to at most n bytes on a character boundary, marking the
// cut with an ellipsis, so error messages quote bounded pieces of input.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
