package auth

import (
	"errors"
	"testing"
)

func TestParseUsername(t *testing.T) {
	tests := []struct {
		in   string
		want parsedUsername
		err  error
	}{
		{"1599491771", parsedUsername{Expiry: 1599491771}, nil},
		{"1599491771:", parsedUsername{Expiry: 1599491771, HasUser: true}, nil},
		{"1599491771:foobar", parsedUsername{Expiry: 1599491771, User: "foobar", HasUser: true}, nil},
		{"1599491771:0123abcd:u", parsedUsername{Expiry: 1599491771, KeyID: "0123abcd", User: "u", HasUser: true}, nil},
		{"1599491771:0123abcd:", parsedUsername{Expiry: 1599491771, KeyID: "0123abcd", HasUser: true}, nil},
		{"1599491771:0123ABCD:u", parsedUsername{Expiry: 1599491771, User: "0123ABCD:u", HasUser: true}, nil},
		{"1599491771:0123abc:u", parsedUsername{Expiry: 1599491771, User: "0123abc:u", HasUser: true}, nil},
		{"1599491771:0123abcd", parsedUsername{Expiry: 1599491771, User: "0123abcd", HasUser: true}, nil},
		{"9999999999:x", parsedUsername{Expiry: 9999999999, User: "x", HasUser: true}, nil},
		{"", parsedUsername{}, ErrMalformed},
		{"12345678901:x", parsedUsername{}, ErrMalformed},
		{"abc:1599491771", parsedUsername{}, ErrMalformed},
		{"1e9:x", parsedUsername{}, ErrMalformed},
	}
	for _, tt := range tests {
		got, err := parseUsername(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("parseUsername(%q) = %+v, %v; want %+v, %v", tt.in, got, err, tt.want, tt.err)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}

// FuzzParseUsername checks parse -> format -> parse is stable and that a
// parsed username never panics or yields an invalid key id.
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1599491771", "1599491771:foobar", "1:0123abcd:u", "0001:x", ":", "", "1:a:b:c", "9999999999:deadbeef:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseUsername(s)
		if err != nil {
			return
		}
		if u.Expiry < 0 {
			t.Fatalf("negative expiry from %q", s)
		}
		if u.KeyID != "" && len(u.KeyID) != kidLen {
			t.Fatalf("bad kid %q from %q", u.KeyID, s)
		}
		s2 := u.String()
		u2, err := parseUsername(s2)
		if err != nil {
			t.Fatalf("reparse %q (from %q): %v", s2, s, err)
		}
		if u2 != u {
			t.Fatalf("round trip %q -> %+v -> %q -> %+v", s, u, s2, u2)
		}
		if s2 != u2.String() {
			t.Fatalf("format not stable: %q vs %q", s2, u2.String())
		}
	})
}
