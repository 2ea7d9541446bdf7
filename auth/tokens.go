package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors returned by Tokens.
var (
	ErrTokenExpired     = errors.New("auth: token expired")
	ErrTokenInvalid     = errors.New("auth: invalid token")
	ErrTokenSecretShort = fmt.Errorf("auth: token secret shorter than %d bytes", MinTokenSecretLen)
)

// Claims are what a join token grants: entry to Room as User until Expires.
type Claims struct {
	Room    string
	User    string
	Role    string // optional, e.g. "host"; meaning is up to the signaling layer
	Name    string // optional display name the operator's app vouches for
	Expires time.Time
}

type wireClaims struct {
	Room string `json:"room"`
	Role string `json:"role,omitempty"`
	Name string `json:"name,omitempty"`
	jwt.RegisteredClaims
}

// Tokens signs and verifies HS256 join tokens. Only HS256 is accepted on
// verify, so a token cannot pick its own algorithm ("none", RS256 with the HMAC
// key as public key, ...).
type Tokens struct {
	key    []byte
	now    func() time.Time
	parser *jwt.Parser
}

// NewTokens builds Tokens with an HS256 key of at least MinTokenSecretLen bytes.
func NewTokens(secret string, opts ...Option) (*Tokens, error) {
	if len(secret) < MinTokenSecretLen {
		return nil, ErrTokenSecretShort
	}
	o := buildOptions(opts)
	return &Tokens{
		key: []byte(secret),
		now: o.now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(o.now),
		),
	}, nil
}

// Sign returns a compact HS256 JWT for c. Room, User and Expires are required.
func (t *Tokens) Sign(c Claims) (string, error) {
	switch {
	case c.Room == "":
		return "", fmt.Errorf("auth: sign token: empty room")
	case c.User == "":
		return "", fmt.Errorf("auth: sign token: empty user")
	case c.Expires.IsZero():
		return "", fmt.Errorf("auth: sign token: no expiry")
	}
	wc := wireClaims{
		Room: c.Room,
		Role: c.Role,
		Name: c.Name,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.User,
			ExpiresAt: jwt.NewNumericDate(c.Expires),
			IssuedAt:  jwt.NewNumericDate(t.now()),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, wc).SignedString(t.key)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return s, nil
}

// Verify checks signature, algorithm and expiry and returns the claims.
// Errors wrap ErrTokenExpired or ErrTokenInvalid.
//
// The claims are decoded as jwt.MapClaims, whose validator accepts only JSON
// numbers for exp, nbf and iat: RegisteredClaims' NumericDate also takes a
// numeric string ("exp":"9999999999"), which other JWT libraries refuse, so
// a token that another verifier rejects would pass here.
func (t *Tokens) Verify(token string) (Claims, error) {
	mc := jwt.MapClaims{}
	_, err := t.parser.ParseWithClaims(token, mc, func(*jwt.Token) (any, error) { return t.key, nil })
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, ErrTokenExpired
		}
		return Claims{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return Claims{}, fmt.Errorf("%w: exp: %v", ErrTokenInvalid, err)
	}
	sub, err := mc.GetSubject()
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	var c Claims
	for _, f := range []struct {
		key string
		dst *string
	}{{"room", &c.Room}, {"role", &c.Role}, {"name", &c.Name}} {
		v, ok := mc[f.key]
		if !ok {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return Claims{}, fmt.Errorf("%w: %s is not a string", ErrTokenInvalid, f.key)
		}
		*f.dst = s
	}
	if c.Room == "" || sub == "" {
		return Claims{}, fmt.Errorf("%w: missing room or sub", ErrTokenInvalid)
	}
	c.User, c.Expires = sub, exp.Time
	return c, nil
}
