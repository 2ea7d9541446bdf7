package proto

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The fixtures in testdata are the protocol's reference messages, one per
// file. The web app's tests (test/e2e/protocol.test.mjs) read the same
// files, so a change here breaks them until both sides agree.

func fixtures(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = bytes.TrimSpace(b)
	}
	return out
}

// strict decodes b into v refusing fields v does not have, so a fixture
// cannot carry a field the protocol package does not know.
func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func compactJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("compact %s: %v", b, err)
	}
	return buf.Bytes()
}

// TestClientFixtures: every client fixture decodes and validates, and
// encodes back to itself; together they cover every client type.
func TestClientFixtures(t *testing.T) {
	seen := map[string]bool{}
	for name, b := range fixtures(t, "client") {
		var raw ClientMessage
		if err := strict(b, &raw); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		m, perr := Decode(b)
		if perr != nil {
			t.Errorf("%s: Decode: %v", name, perr)
			continue
		}
		seen[m.Type] = true
		if got, want := Marshal(m), compactJSON(t, b); !bytes.Equal(got, want) {
			t.Errorf("%s: encodes as\n%s\nwant\n%s", name, got, want)
		}
	}
	for _, typ := range ClientTypes {
		if !seen[typ] {
			t.Errorf("no client fixture of type %q", typ)
		}
	}
}

// decodeServer decodes a server fixture into the struct the hub encodes that
// type with.
func decodeServer(b []byte) (any, error) {
	var env ServerMessage
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, err
	}
	var v any
	switch env.Type {
	case TypeHello:
		v = new(Hello)
	case TypeICE:
		v = new(ICE)
	default:
		v = new(ServerMessage)
	}
	return v, strict(b, v)
}

// TestServerFixtures: every server fixture decodes strictly into the struct
// the hub encodes it with and re-encodes byte for byte, so field names,
// order and omission rules are pinned; together they cover every server type.
func TestServerFixtures(t *testing.T) {
	seen := map[string]bool{}
	for name, b := range fixtures(t, "server") {
		v, err := decodeServer(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var env ServerMessage
		_ = json.Unmarshal(b, &env)
		if env.V != Version || !slices.Contains(ServerTypes, env.Type) {
			t.Errorf("%s: v %d type %q", name, env.V, env.Type)
		}
		if env.Type == TypeError && !slices.Contains(ErrorCodes, env.Code) {
			t.Errorf("%s: unknown code %q", name, env.Code)
		}
		seen[env.Type] = true
		if got, want := Marshal(v), compactJSON(t, b); !bytes.Equal(got, want) {
			t.Errorf("%s: encodes as\n%s\nwant\n%s", name, got, want)
		}
	}
	for _, typ := range ServerTypes {
		if !seen[typ] {
			t.Errorf("no server fixture of type %q", typ)
		}
	}
}

func TestDataFixtures(t *testing.T) {
	seen := map[string]bool{}
	for name, b := range fixtures(t, "data") {
		var m DataMessage
		if err := strict(b, &m); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		seen[m.T] = true
		if got, want := Marshal(m), compactJSON(t, b); !bytes.Equal(got, want) {
			t.Errorf("%s: encodes as\n%s\nwant\n%s", name, got, want)
		}
	}
	for _, typ := range []string{DataChat, DataBye, DataRebind} {
		if !seen[typ] {
			t.Errorf("no data fixture of type %q", typ)
		}
	}
}

// TestInvalidFixtures: each refused frame gets its documented code and, where
// the frame has one, its id back.
func TestInvalidFixtures(t *testing.T) {
	b, err := os.ReadFile("testdata/client-invalid.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Frame string `json:"frame"`
		Code  string `json:"code"`
		ID    string `json:"id"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		m, perr := Decode([]byte(c.Frame))
		if perr == nil || perr.Code != c.Code || m.ID != c.ID {
			t.Errorf("%s: got %v id %q, want %s id %q", c.Frame, perr, m.ID, c.Code, c.ID)
		}
	}
}

func TestRoomFixtures(t *testing.T) {
	b, err := os.ReadFile("testdata/rooms.json")
	if err != nil {
		t.Fatal(err)
	}
	var rooms struct {
		Valid   [][2]string `json:"valid"`
		Invalid []string    `json:"invalid"`
	}
	if err := json.Unmarshal(b, &rooms); err != nil {
		t.Fatal(err)
	}
	for _, v := range rooms.Valid {
		if got, ok := CanonicalRoom(v[0]); !ok || got != v[1] {
			t.Errorf("CanonicalRoom(%q) = %q, %v; want %q", v[0], got, ok, v[1])
		}
	}
	for _, s := range rooms.Invalid {
		if got, ok := CanonicalRoom(s); ok {
			t.Errorf("CanonicalRoom(%q) = %q, want invalid", s, got)
		}
	}
}

// TestDocsMatch checks docs/protocol.md against this package: it names every
// type and error code, and each JSON example in it that is a whole message
// decodes strictly as a message of its type.
func TestDocsMatch(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, name := range slices.Concat(ClientTypes, ServerTypes, ErrorCodes) {
		if !strings.Contains(text, "`"+name+"`") {
			t.Errorf("docs/protocol.md does not name `%s`", name)
		}
	}
	checked := 0
	for _, ex := range jsonExamples(text) {
		var env struct {
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(ex), &env) != nil || env.Type == "" {
			continue // an elided example ({…}) or not a message
		}
		if !slices.Contains(ClientTypes, env.Type) && !slices.Contains(ServerTypes, env.Type) {
			t.Errorf("docs example of unknown type %q: %s", env.Type, ex)
			continue
		}
		checked++
		var cm ClientMessage
		if slices.Contains(ClientTypes, env.Type) && strict([]byte(ex), &cm) == nil {
			if _, perr := Decode([]byte(ex)); perr == nil {
				continue
			}
		}
		if _, err := decodeServer([]byte(ex)); err != nil {
			t.Errorf("docs example is neither a valid client nor server message (%v): %s", err, ex)
		}
	}
	if checked < 15 {
		t.Errorf("only %d JSON examples found in docs/protocol.md", checked)
	}
}

// jsonExamples returns the JSON objects in s that start with {"v" (message
// examples), inline or in code blocks, balanced by braces outside strings.
func jsonExamples(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		if !strings.HasPrefix(s[i:], `{"v"`) {
			continue
		}
		depth, inStr := 0, false
		for j := i; j < len(s); j++ {
			c := s[j]
			switch {
			case inStr && c == '\\':
				j++
			case c == '"':
				inStr = !inStr
			case !inStr && c == '{':
				depth++
			case !inStr && c == '}':
				depth--
				if depth == 0 {
					out = append(out, s[i:j+1])
					i = j
					j = len(s)
				}
			}
		}
	}
	return out
}

// TestLimitsFixture: the limits the web app's tests read are this package's.
func TestLimitsFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/limits.json")
	if err != nil {
		t.Fatal(err)
	}
	var l map[string]int
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"maxMessageBytes": MaxMessageBytes, "maxIdBytes": MaxIDBytes, "maxNameRunes": MaxNameRunes,
		"maxRoomRunes": MaxRoomRunes, "maxChatRunes": MaxChatRunes, "maxTiles": MaxTiles, "maxTileSide": MaxTileSide, "maxPasswordRunes": MaxPasswordRunes}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("testdata/limits.json %v, package %v", l, want)
	}
}
