package proto

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecode checks the decoder never panics and that whatever it accepts
// survives decode -> encode -> decode unchanged.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"type":"hello","id":"1","name":"Ann","token":"a.b.c","resume":"r_x"}`,
		`{"v":1,"type":"join","id":"2","room":"team-42"}`,
		`{"v":1,"type":"signal","to":"p_b","kind":"offer","data":{"type":"offer","sdp":"v=0"}}`,
		`{"v":1,"type":"signal","to":"p_b","kind":"candidate","data":null}`,
		`{"v":1,"type":"update","name":"x","state":{"audio":true,"bogus":1}}`,
		`{"v":1,"type":"ping","id":"5"}`,
		`{"v":2,"type":"hello"}`,
		`{"type":"leave"}`, `{"type":"ice","id":"9"}`, `[]`, `null`, `{"v":1,"type":"join","room":7}`,
		"{\"v\":1,\"type\":\"hello\",\"name\":\"\xff\"}",
		`{"v":1,"type":"ping","type":"join","room":"r"}`,
		`{"v":1,"type":"ping","Type":"join","room":"r"}`,
		`{"v":1,"type":"signal","to":"p_b","kind":"offer","data":{"sdp":"a","s\u0064p":"b"}}`,
		`{"v":1,"type":"update","state":{"audio":true,"audio":false}}`,
		`{"v":1,"type":"host","id":"h","action":"remove","target":"p_b"}`,
		`{"v":1,"type":"host","action":"password","password":"blue whale"}`,
		`{"v":1,"type":"join","room":"r","password":"x"}`,
		`{"v":1,"type":"update","state":{"hand":true}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if json.Valid(b) {
			if _, dup := dupKey(b); dup != refDupKey(t, b) {
				t.Fatalf("dupKey(%q) = %v, the reference disagrees", b, dup)
			}
		} else {
			dupKey(b) // must not panic on anything
		}
		m, err := Decode(b)
		if err != nil {
			if err.Code == "" || err.Message == "" {
				t.Fatalf("error without code or message: %#v", err)
			}
			if len(m.ID) > MaxIDBytes {
				t.Fatalf("echoed id of %d bytes", len(m.ID))
			}
			return
		}
		enc, jerr := json.Marshal(m)
		if jerr != nil {
			t.Fatalf("encode %#v: %v", m, jerr)
		}
		if _, dup := dupKey(b); dup {
			t.Fatalf("accepted %q with a duplicate key", b)
		}
		m2, err2 := Decode(enc)
		if err2 != nil {
			t.Fatalf("re-decode of %s: %v", enc, err2)
		}
		// RawMessage bytes may be re-indented by Marshal; compare compacted.
		m.Data, m2.Data = compact(t, m.Data), compact(t, m2.Data)
		m.V, m2.V = compact(t, m.V), compact(t, m2.V)
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed\n%#v\n%#v", m, m2)
		}
	})
}

func compact(t *testing.T, b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("compact %q: %v", b, err)
	}
	return buf.Bytes()
}
