package proto

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// keySetMap is the object size from which dupKey switches from a linear
// search to a map, so a 64 KiB object of tiny keys stays linear in time.
const keySetMap = 16

// keyFrame is one open object or array while dupKey scans.
type keyFrame struct {
	obj     bool
	wantKey bool // in an object, the next string is a key
	name    string
	keys    []string
	set     map[string]struct{}
}

// add records key and reports whether the object already had it.
func (f *keyFrame) add(key string) bool {
	if f.set != nil {
		if _, dup := f.set[key]; dup {
			return true
		}
		f.set[key] = struct{}{}
		return false
	}
	for _, k := range f.keys {
		if k == key {
			return true
		}
	}
	f.keys = append(f.keys, key)
	if len(f.keys) > keySetMap {
		f.set = make(map[string]struct{}, 2*len(f.keys))
		for _, k := range f.keys {
			f.set[k] = struct{}{}
		}
		f.keys = nil
	}
	return false
}

// dupKey reports the first key that occurs twice in one object of b, at any
// depth, as a dotted path ("data.sdp"; "[]" stands for an array element).
// encoding/json keeps the last of duplicate keys, while other parsers keep
// the first or fail, so `{"type":"ping","type":"join"}` would mean different
// things to different readers of one frame. Keys that differ only in case
// count as duplicates too: encoding/json matches struct fields
// case-insensitively, so "type" and "TYPE" fill the same field.
//
// b must be valid JSON (decode checks it first); on anything else dupKey
// returns without panicking but its answer is meaningless.
func dupKey(b []byte) (path string, dup bool) {
	var stack []keyFrame
	name := ""
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			stack = append(stack, keyFrame{obj: c == '{', wantKey: c == '{', name: name})
			name = ""
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].obj {
				stack[n-1].wantKey = true
			}
		case '"':
			end := stringEnd(b, i)
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				f := &stack[n-1]
				f.wantKey = false
				key := unquoteKey(b[i : end+1])
				if f.add(foldKey(key)) {
					return keyPath(stack, key), true
				}
				name = key
			} else {
				name = ""
			}
			i = end
		default:
			// Whitespace, ':' and the bytes of numbers and literals: values
			// need no bookkeeping. A value's name is dropped when it is not
			// an object or array.
			if c != ':' && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				name = ""
			}
		}
	}
	return "", false
}

// stringEnd returns the index of the quote closing the string opened at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(b) - 1
}

// unquoteKey decodes a quoted key, escapes included, so "\u0074ype" is "type".
func unquoteKey(q []byte) string {
	if len(q) < 2 {
		return ""
	}
	raw := q[1 : len(q)-1]
	if !strings.ContainsRune(string(raw), '\\') {
		return string(raw)
	}
	var s string
	if json.Unmarshal(q, &s) != nil {
		return string(raw)
	}
	return s
}

// foldKey maps every rune to the lower case of the smallest rune of its
// simple case-folding orbit (a function of the orbit, and a lowercase ASCII
// letter maps to itself), so foldKey(a) == foldKey(b) exactly when
// strings.EqualFold(a, b), the rule encoding/json uses to match keys with
// struct fields.
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		return unicode.ToLower(m)
	}, s)
}

func keyPath(stack []keyFrame, key string) string {
	var parts []string
	for i, f := range stack {
		if i == 0 {
			continue // the message itself
		}
		if stack[i-1].obj {
			parts = append(parts, f.name)
		} else {
			parts = append(parts, "[]")
		}
	}
	return strings.Join(append(parts, key), ".")
}
