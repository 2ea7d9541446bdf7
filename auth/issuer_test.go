package auth

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

// TestPionVector checks the password against pion's lt_cred_test.go vector.
func TestPionVector(t *testing.T) {
	if got := sign([]byte("foobar"), "1599491771"); got != "Tpz/nKkyvX/vMSLKvL4sbtBt8Vs=" {
		t.Fatalf("sign = %q", got)
	}
	clk := &fakeClock{t: time.Unix(1599491000, 0)}
	iss, err := NewIssuer([]string{"foobar"}, time.Hour, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	pw, exp, err := iss.Password("1599491771")
	if err != nil || pw != "Tpz/nKkyvX/vMSLKvL4sbtBt8Vs=" || exp.Unix() != 1599491771 {
		t.Fatalf("Password = %q %v %v", pw, exp, err)
	}
	if err := iss.Verify("1599491771", "Tpz/nKkyvX/vMSLKvL4sbtBt8Vs="); err != nil {
		t.Fatal(err)
	}
}

// coturnPassword is an independent implementation of use-auth-secret.
func coturnPassword(secret, username string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestIssueShape(t *testing.T) {
	clk := newClock()
	iss, err := NewIssuer([]string{"s3cret-one"}, 6*time.Hour, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Issue("alice")
	wantPrefix := "1700021600:" + KeyID("s3cret-one") + ":"
	if c.Username != wantPrefix+"alice" {
		t.Fatalf("username %q, want %q", c.Username, wantPrefix+"alice")
	}
	if c.Password != coturnPassword("s3cret-one", c.Username) {
		t.Fatalf("password does not match coturn scheme")
	}
	if len(c.Password) != 28 || !strings.HasSuffix(c.Password, "=") {
		t.Fatalf("password %q not padded std base64", c.Password)
	}
	if !c.Expires.Equal(time.Unix(1700021600, 0)) || c.TTL != 6*time.Hour {
		t.Fatalf("expires %v ttl %v", c.Expires, c.TTL)
	}
	if len(KeyID("x")) != 8 {
		t.Fatal("kid length")
	}
	if iss.Generated() || iss.TTL() != 6*time.Hour {
		t.Fatal("Generated/TTL")
	}
	if u, err := iss.User(c.Username); err != nil || u != "alice" {
		t.Fatalf("User = %q %v", u, err)
	}
}

func TestVerifyTable(t *testing.T) {
	clk := newClock()
	const s1, s2 = "new-secret-0001", "old-secret-0002"
	iss, err := NewIssuer([]string{s1, s2}, time.Hour, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	old, err := NewIssuer([]string{s2}, time.Hour, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	gone, err := NewIssuer([]string{"removed-secret-3"}, time.Hour, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	valid := iss.Issue("bob")
	fromOld := old.Issue("carol")
	fromGone := gone.Issue("dave")
	now := clk.t.Unix()
	future := func(s string) string { return itoa(now+60) + s }
	past := func(s string) string { return itoa(now-1) + s }

	tests := []struct {
		name     string
		user, pw string
		want     error
	}{
		{"valid", valid.Username, valid.Password, nil},
		{"rotation: old secret still verifies", fromOld.Username, fromOld.Password, nil},
		{"removed secret refused", fromGone.Username, fromGone.Password, ErrBadPassword},
		{"plain coturn shape with first secret", future(":app-user"), coturnPassword(s1, future(":app-user")), nil},
		{"plain coturn shape with second secret refused", future(":x"), coturnPassword(s2, future(":x")), ErrBadPassword},
		{"bare timestamp", future(""), coturnPassword(s1, future("")), nil},
		{"expires this second still valid", itoa(now) + ":u", coturnPassword(s1, itoa(now)+":u"), nil},
		{"expired", past(":u"), coturnPassword(s1, past(":u")), ErrExpired},
		{"expired and forged reports forged", past(":u"), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", ErrBadPassword},
		{"forged password", valid.Username, coturnPassword("guess", valid.Username), ErrBadPassword},
		{"tampered user part", strings.Replace(valid.Username, "bob", "bob2", 1), valid.Password, ErrBadPassword},
		{"tampered expiry", itoa(now+7200) + valid.Username[10:], valid.Password, ErrBadPassword},
		{"unpadded base64", valid.Username, strings.TrimRight(valid.Password, "="), ErrBadPassword},
		{"url-safe base64", future(":u"), strings.NewReplacer("+", "-", "/", "_").Replace(coturnPassword(s1, future(":u"))) + "x", ErrBadPassword},
		{"empty password", valid.Username, "", ErrBadPassword},
		{"empty username", "", "x", ErrMalformed},
		{"user first (coturn alt form) unsupported", "bob:" + itoa(now+60), "x", ErrMalformed},
		{"milliseconds timestamp", itoa((now+60)*1000) + ":u", coturnPassword(s1, itoa((now+60)*1000)+":u"), ErrMalformed},
		{"negative", "-5:u", "x", ErrMalformed},
		{"plus sign", "+5:u", "x", ErrMalformed},
		{"hex", "0x10:u", "x", ErrMalformed},
		{"space", " 1800000000:u", "x", ErrMalformed},
		{"no expiry", ":u", "x", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := iss.Verify(tt.user, tt.pw); !errors.Is(err, tt.want) {
				t.Fatalf("Verify(%q) = %v, want %v", tt.user, err, tt.want)
			}
		})
	}
}

func TestRotationMintsWithFirst(t *testing.T) {
	clk := newClock()
	iss, err := NewIssuer([]string{"first-secret-aa", "second-secret-b"}, time.Hour, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Issue("u")
	u, err := parseUsername(c.Username)
	if err != nil {
		t.Fatal(err)
	}
	if u.KeyID != KeyID("first-secret-aa") {
		t.Fatalf("minted with kid %s", u.KeyID)
	}
	if c.Password != coturnPassword("first-secret-aa", c.Username) {
		t.Fatal("not signed with first secret")
	}
}

func TestExpiryAndIgnoringExpiry(t *testing.T) {
	clk := newClock()
	iss, err := NewIssuer([]string{"a-secret-value"}, time.Minute, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Issue("u")
	if pw, _, err := iss.Password(c.Username); err != nil || pw != c.Password {
		t.Fatalf("fresh: %v", err)
	}
	clk.advance(time.Minute)
	if err := iss.Verify(c.Username, c.Password); err != nil {
		t.Fatalf("at expiry second: %v", err)
	}
	clk.advance(time.Second)
	if _, _, err := iss.Password(c.Username); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired Password: %v", err)
	}
	if err := iss.Verify(c.Username, c.Password); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired Verify: %v", err)
	}
	pw, exp, err := iss.PasswordIgnoringExpiry(c.Username)
	if err != nil || pw != c.Password || !exp.Equal(c.Expires) {
		t.Fatalf("PasswordIgnoringExpiry = %q %v %v", pw, exp, err)
	}
	if _, _, err := iss.PasswordIgnoringExpiry("garbage"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed: %v", err)
	}
}

func TestEmptySecretsIgnored(t *testing.T) {
	iss, err := NewIssuer([]string{"", "real-secret-1", ""}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if iss.Generated() {
		t.Fatal("generated although a secret was configured")
	}
	c := iss.Issue("u")
	if c.Password != coturnPassword("real-secret-1", c.Username) {
		t.Fatal("did not mint with the configured secret")
	}
	only, err := NewIssuer([]string{""}, time.Hour)
	if err != nil || !only.Generated() {
		t.Fatalf("only empty secrets: generated=%v err=%v", only != nil && only.Generated(), err)
	}
	if err := (Config{Secrets: []string{""}, TTL: time.Hour}).Validate(); err != nil {
		t.Fatalf("Validate with an unset env secret: %v", err)
	}
}

func TestGeneratedSecret(t *testing.T) {
	a, err := NewIssuer(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewIssuer(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Generated() {
		t.Fatal("Generated() = false")
	}
	c := a.Issue("x")
	if err := a.Verify(c.Username, c.Password); err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(c.Username, c.Password); err == nil {
		t.Fatal("two generated secrets agree")
	}
}

func TestNewIssuerErrors(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		ttl     time.Duration
		want    string
	}{
		{"trailing newline", []string{"secret\n"}, time.Hour, "Auth.Secrets[0]: leading or trailing whitespace"},
		{"duplicate", []string{"abc", "abc"}, time.Hour, "Auth.Secrets[1]: duplicates Auth.Secrets[0]"},
		{"zero ttl", nil, 0, "TTL"},
		{"huge ttl", nil, 48 * time.Hour, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewIssuer(tt.secrets, tt.ttl)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(tt.name, "ttl") {
				return
			}
			cerr := Config{Secrets: tt.secrets, TTL: tt.ttl}.Validate()
			if cerr == nil || !strings.Contains(cerr.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", cerr, tt.want)
			}
		})
	}
	if err := (Config{TTL: time.Hour, TokenSecret: "short"}).Validate(); err == nil || !strings.Contains(err.Error(), "Auth.TokenSecret") {
		t.Fatalf("short TokenSecret: %v", err)
	}
	if err := (Config{TTL: 500 * time.Millisecond}).Validate(); err == nil || !strings.Contains(err.Error(), "Auth.TTL") {
		t.Fatalf("sub-second TTL: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero TTL (the default): %v", err)
	}
	if ttl := (Config{}).WithDefaults().TTL; ttl != DefaultTTL {
		t.Fatalf("default TTL %v", ttl)
	}
	if err := (Config{TTL: 6 * time.Hour, Secrets: []string{"a", "b"}}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestUserPart(t *testing.T) {
	iss, err := NewIssuer([]string{"k1-secret"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"1800000000:alice", "alice"},
		{"1800000000", ""},
		{"1800000000:" + KeyID("k1-secret") + ":bob", "bob"},
		{"1800000000:deadbeef:bob", "deadbeef:bob"}, // unknown kid is part of the user
		{"1800000000:a:b:c", "a:b:c"},
	}
	for _, tt := range tests {
		if got, err := iss.User(tt.in); err != nil || got != tt.want {
			t.Errorf("User(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := iss.User("x"); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestRandomUser(t *testing.T) {
	iss, err := NewIssuer([]string{"k1-secret"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for i := 0; i < 100; i++ {
		u := RandomUser("p_victim")
		label, rnd, ok := strings.Cut(u, ".")
		if !ok || label != "p_victim" || len(rnd) != 32 || strings.Trim(rnd, "0123456789abcdef") != "" {
			t.Fatalf("RandomUser = %q", u)
		}
		if seen[u] {
			t.Fatalf("RandomUser repeated %q", u)
		}
		seen[u] = true
		// The relay's quota key is the whole user part, random included.
		if got, err := iss.User(iss.Issue(u).Username); err != nil || got != u {
			t.Fatalf("User = %q, %v; want %q", got, err, u)
		}
	}
	if u := RandomUser(""); len(u) != 32 || strings.Contains(u, ".") {
		t.Fatalf("RandomUser(\"\") = %q", u)
	}
}

func TestKeyedUser(t *testing.T) {
	k1, k2 := []byte("key-one-0123456789abcdef"), []byte("key-two-0123456789abcdef")
	a := keyedUser(k1, "alice", "alice")
	label, rnd, ok := strings.Cut(a, ".")
	if !ok || label != "alice" || len(rnd) != 32 || strings.Trim(rnd, "0123456789abcdef") != "" {
		t.Fatalf("KeyedUser = %q", a)
	}
	if keyedUser(k1, "alice", "alice") != a {
		t.Fatal("not stable for one id")
	}
	if keyedUser(k1, "alice", "bob") == a || keyedUser(k2, "alice", "alice") == a {
		t.Fatal("another id or key gives the same user part")
	}
	one, _ := NewIssuer([]string{string(k1), string(k2)}, time.Hour)
	other, _ := NewIssuer([]string{string(k1)}, time.Hour)
	if one.KeyedUser("alice", "alice") != a || other.KeyedUser("alice", "alice") != a {
		t.Fatal("Issuer.KeyedUser does not key on the minting secret")
	}
}
