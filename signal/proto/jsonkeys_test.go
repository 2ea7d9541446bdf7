package proto

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestDupKey(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = no duplicate
	}{
		{`{"type":"ping","id":"1"}`, ""},
		{`{"type":"ping","type":"join"}`, "type"},
		{`{"type":"ping","TYPE":"join"}`, "TYPE"},
		{`{"type":"ping","\u0074ype":"join"}`, "type"},
		{`{"kelvin":1,"\u212aelvin":2}`, "\u212aelvin"}, // K sign folds to k, as encoding/json matches it
		{`{"v":1,"data":{"sdp":"a","sdp":"b"}}`, "data.sdp"},
		{`{"data":{"x":[{"a":1},{"a":1,"b":{"c":0,"c":0}}]}}`, "data.x.[].b.c"},
		{`{"a":{"k":1},"b":{"k":1}}`, ""}, // same key in sibling objects
		{`{"a":["k","k"],"k":1}`, ""},     // strings in arrays are values
		{`{"a":"b","b":"a"}`, ""},
		{`{"a":"x\"y","x\"y":1,"a\\":2}`, ""},
		{`{"a":"x\"y","x\"y":1,"x\"y":2}`, `x"y`},
		{` { "a" : 1 , "a" : 2 } `, "a"},
		{`[{"a":1},{"a":2}]`, ""},
		{`[]`, ""}, {`null`, ""}, {`"a"`, ""}, {`{}`, ""},
	}
	for _, tt := range tests {
		path, dup := dupKey([]byte(tt.in))
		if dup != (tt.want != "") || path != tt.want {
			t.Errorf("dupKey(%s) = %q, %v; want %q", tt.in, path, dup, tt.want)
		}
		if ref := refDupKey(t, []byte(tt.in)); ref != dup {
			t.Errorf("dupKey(%s) = %v, reference says %v", tt.in, dup, ref)
		}
	}
	// Many keys: the map path.
	var b strings.Builder
	b.WriteString(`{"data":{`)
	for i := 0; i < 100; i++ {
		b.WriteString(`"k` + strconv.Itoa(i) + `":0,`)
	}
	b.WriteString(`"k7":1}}`)
	if path, dup := dupKey([]byte(b.String())); !dup || path != "data.k7" {
		t.Fatalf("100 keys: %q %v", path, dup)
	}
}

// refDupKey is the reference: encoding/json's token stream, keys folded with
// strings.EqualFold.
func refDupKey(t testing.TB, b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj  bool
		key  bool
		keys []string
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: v == '{', key: true})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.obj && top.key {
				for _, k := range top.keys {
					if strings.EqualFold(k, v) {
						return true
					}
				}
				top.keys = append(top.keys, v)
				top.key = false
				continue
			}
		}
		if top != nil && top.obj {
			top.key = true
		}
	}
}
