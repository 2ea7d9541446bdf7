package auth

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testTokenSecret = "0123456789abcdef-token"

func TestTokensRoundTrip(t *testing.T) {
	clk := newClock()
	tk, err := NewTokens(testTokenSecret, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	in := Claims{Room: "standup", User: "alice", Role: "host", Name: "Alice A.", Expires: clk.t.Add(time.Hour)}
	s, err := tk.Sign(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.Verify(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Room != in.Room || got.User != in.User || got.Role != in.Role || got.Name != in.Name || !got.Expires.Equal(in.Expires) {
		t.Fatalf("got %+v want %+v", got, in)
	}
	clk.advance(time.Hour + time.Second)
	if _, err := tk.Verify(s); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired: %v", err)
	}
}

func TestNewTokensShortSecret(t *testing.T) {
	for _, s := range []string{"", "short", "fifteen-bytes!!"} {
		if _, err := NewTokens(s); !errors.Is(err, ErrTokenSecretShort) {
			t.Errorf("NewTokens(%q) = %v", s, err)
		}
	}
}

func TestSignRequiresFields(t *testing.T) {
	tk, err := NewTokens(testTokenSecret)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	for _, c := range []Claims{{User: "u", Expires: exp}, {Room: "r", Expires: exp}, {Room: "r", User: "u"}} {
		if _, err := tk.Sign(c); err == nil {
			t.Errorf("Sign(%+v) succeeded", c)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// forge builds a token with an arbitrary header, MACed with mac (nil: empty signature).
func forge(header, payload string, mac func(string) []byte) string {
	signing := b64(header) + "." + b64(payload)
	sig := ""
	if mac != nil {
		sig = base64.RawURLEncoding.EncodeToString(mac(signing))
	}
	return signing + "." + sig
}

func TestTokensRejectAlgConfusion(t *testing.T) {
	clk := newClock()
	tk, err := NewTokens(testTokenSecret, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	exp := clk.t.Add(time.Hour).Unix()
	payload := `{"room":"r","sub":"mallory","exp":` + itoa(exp) + `}`
	hs512 := func(s string) []byte {
		m := hmac.New(sha512.New, []byte(testTokenSecret))
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	other, err := NewTokens("another-secret-of-16+", WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	otherTok, err := other.Sign(Claims{Room: "r", User: "u", Expires: clk.t.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	noExp, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"room": "r", "sub": "u"}).SignedString([]byte(testTokenSecret))
	if err != nil {
		t.Fatal(err)
	}
	noRoom, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u", "exp": exp}).SignedString([]byte(testTokenSecret))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, token string }{
		{"alg none", forge(`{"alg":"none","typ":"JWT"}`, payload, nil)},
		{"alg None", forge(`{"alg":"None","typ":"JWT"}`, payload, nil)},
		{"HS512 with right key", forge(`{"alg":"HS512","typ":"JWT"}`, payload, hs512)},
		{"RS256 header HMAC body", forge(`{"alg":"RS256","typ":"JWT"}`, payload, hs512)},
		{"wrong key", otherTok},
		{"no exp", noExp},
		{"no room", noRoom},
		{"garbage", "not.a.token"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tk.Verify(tt.token)
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("Verify = %+v, %v; want ErrTokenInvalid", c, err)
			}
			if !strings.HasPrefix(err.Error(), "auth: invalid token") {
				t.Fatalf("error text %q", err)
			}
		})
	}
}

// TestTokensStrictNumericDates: exp, nbf and iat are JSON numbers (RFC 7519
// §2 NumericDate); a numeric string is refused like a missing exp.
func TestTokensStrictNumericDates(t *testing.T) {
	clk := newClock()
	tk, err := NewTokens(testTokenSecret, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testTokenSecret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	future, past := clk.t.Add(time.Hour).Unix(), clk.t.Add(-time.Minute).Unix()
	tests := []struct {
		name   string
		claims jwt.MapClaims
		want   error
	}{
		{"valid numeric exp", jwt.MapClaims{"room": "r", "sub": "u", "exp": future}, nil},
		{"string exp", jwt.MapClaims{"room": "r", "sub": "u", "exp": itoa(future)}, ErrTokenInvalid},
		{"expired numeric exp", jwt.MapClaims{"room": "r", "sub": "u", "exp": past}, ErrTokenExpired},
		{"string nbf", jwt.MapClaims{"room": "r", "sub": "u", "exp": future, "nbf": itoa(past)}, ErrTokenInvalid},
		{"bool exp", jwt.MapClaims{"room": "r", "sub": "u", "exp": true}, ErrTokenInvalid},
		{"numeric room", jwt.MapClaims{"room": 7, "sub": "u", "exp": future}, ErrTokenInvalid},
		{"numeric sub", jwt.MapClaims{"room": "r", "sub": 7, "exp": future}, ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tk.Verify(sign(tt.claims))
			if tt.want == nil {
				if err != nil || c.Room != "r" || c.User != "u" || c.Expires.Unix() != future {
					t.Fatalf("Verify = %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %+v, %v; want %v", c, err, tt.want)
			}
		})
	}
}
