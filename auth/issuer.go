package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST scheme and RFC 5389 mandate.
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MaxTTL caps credential lifetimes: a leaked credential should not outlive a day
// (LiveKit clamps to 24h for the same reason).
const MaxTTL = 24 * time.Hour

// Errors returned by Issuer. They are safe to count and log at debug level.
var (
	ErrMalformed   = errors.New("auth: malformed username")
	ErrExpired     = errors.New("auth: credential expired")
	ErrBadPassword = errors.New("auth: wrong password")
)

// Option configures an Issuer or Tokens.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithClock injects the time source, so expiry can be tested without sleeping.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

func buildOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Credential is one TURN REST credential, shaped for an RTCIceServer.
type Credential struct {
	Username string
	Password string
	Expires  time.Time
	TTL      time.Duration
}

type secretKey struct {
	kid string
	key []byte
}

// Issuer mints and verifies TURN REST credentials. It is safe for concurrent use
// and immutable after NewIssuer.
type Issuer struct {
	keys      []secretKey // keys[0] mints
	ttl       time.Duration
	now       func() time.Time
	generated bool
}

// NewIssuer builds an Issuer. Empty strings in secrets are ignored. With no
// secrets it generates a random 32-byte one,
// which works for a single node because it mints and verifies in one process;
// Generated reports that so the caller can say so (without printing it).
func NewIssuer(secrets []string, ttl time.Duration, opts ...Option) (*Issuer, error) {
	if err := validateTTL(ttl); err != nil {
		return nil, err
	}
	if err := validateSecrets(secrets); err != nil {
		return nil, err
	}
	secrets = nonEmpty(secrets)
	o := buildOptions(opts)
	iss := &Issuer{ttl: ttl, now: o.now}
	if len(secrets) == 0 {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("auth: generate secret: %w", err)
		}
		secrets = []string{hex.EncodeToString(b[:])}
		iss.generated = true
	}
	kids := make(map[string]int, len(secrets))
	for i, s := range secrets {
		kid := KeyID(s)
		if j, ok := kids[kid]; ok {
			// 32-bit collision between two distinct secrets: astronomically
			// unlikely, but verification would pick the wrong one.
			return nil, fmt.Errorf("Auth.Secrets[%d]: key id collides with Auth.Secrets[%d], choose another secret", i, j)
		}
		kids[kid] = i
		iss.keys = append(iss.keys, secretKey{kid: kid, key: []byte(s)})
	}
	return iss, nil
}

// Generated reports whether the secret was generated because none was configured.
func (i *Issuer) Generated() bool { return i.generated }

// TTL is the lifetime of issued credentials.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue mints a credential for user with the first secret. user is opaque;
// keep it free of ':' for interop with parsers that split on every separator.
func (i *Issuer) Issue(user string) Credential {
	exp := i.now().Add(i.ttl).Unix()
	k := i.keys[0]
	username := strconv.FormatInt(exp, 10) + ":" + k.kid + ":" + user
	return Credential{
		Username: username,
		Password: sign(k.key, username),
		Expires:  time.Unix(exp, 0),
		TTL:      i.ttl,
	}
}

// userRandomBytes is the size of the random part of RandomUser: 128 bits,
// beyond guessing.
const userRandomBytes = 16

// RandomUser returns a user part for Issue that no caller can choose or guess:
// label, a dot and 128 random bits in lowercase hex ("p_abc.9f86d0..."), or
// only the hex when label is empty. The relay counts quotas per user part,
// so a user part anyone can name (a peer id is visible to the whole room)
// lets one caller mint the victim's exact credentials and use up the
// victim's allocation quota. The label only helps operators read logs;
// keep it free of ':'.
func RandomUser(label string) string {
	var b [userRandomBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	if label == "" {
		return hex.EncodeToString(b[:])
	}
	return label + "." + hex.EncodeToString(b[:])
}

// keyedUser is RandomUser for a known identity: label, a dot and the first
// 128 bits of HMAC-SHA256(key, id) in hex. One id always gets the same user
// part, so the relay's per-user quota holds across its sessions, while
// nobody without key can compute it from the id.
func keyedUser(key []byte, label, id string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("rtcd-turn-user:" + id)) // hash.Hash.Write never fails
	return label + "." + hex.EncodeToString(mac.Sum(nil)[:userRandomBytes])
}

// KeyedUser is keyedUser with the minting secret as key, so
// every node sharing Auth.Secrets gives one id the same user part.
func (i *Issuer) KeyedUser(label, id string) string {
	return keyedUser(i.keys[0].key, label, id)
}

// Password returns the password that belongs to username if it is well-formed
// and not expired. The relay's AuthHandler derives the long-term key from it.
func (i *Issuer) Password(username string) (password string, expires time.Time, err error) {
	password, expires, err = i.PasswordIgnoringExpiry(username)
	if err != nil {
		return "", time.Time{}, err
	}
	if i.expired(expires) {
		return "", expires, ErrExpired
	}
	return password, expires, nil
}

// PasswordIgnoringExpiry is Password without the expiry check: the relay uses it
// for requests on an allocation that was created while the credential was valid
// (coturn semantics: expiry is checked when the session is created).
func (i *Issuer) PasswordIgnoringExpiry(username string) (password string, expires time.Time, err error) {
	u, err := parseUsername(username)
	if err != nil {
		return "", time.Time{}, err
	}
	return sign(i.keyFor(u).key, username), time.Unix(u.Expiry, 0), nil
}

// Verify checks a username/password pair in constant time. A wrong password is
// reported as ErrBadPassword even when the username is also expired, so a
// forger learns nothing from the error.
func (i *Issuer) Verify(username, password string) error {
	want, expires, err := i.PasswordIgnoringExpiry(username)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(want), []byte(password)) {
		return ErrBadPassword
	}
	if i.expired(expires) {
		return ErrExpired
	}
	return nil
}

// User returns the user part of a username (without expiry and key id), the
// identity quotas count against.
func (i *Issuer) User(username string) (string, error) {
	u, err := parseUsername(username)
	if err != nil {
		return "", err
	}
	if u.KeyID != "" && i.knownKID(u.KeyID) {
		return u.User, nil
	}
	if u.KeyID != "" {
		return u.KeyID + ":" + u.User, nil
	}
	return u.User, nil
}

// keyFor picks the secret named by the key id, else the first secret.
func (i *Issuer) keyFor(u parsedUsername) secretKey {
	if u.KeyID != "" {
		for _, k := range i.keys {
			if k.kid == u.KeyID {
				return k
			}
		}
	}
	return i.keys[0]
}

func (i *Issuer) knownKID(kid string) bool {
	for _, k := range i.keys {
		if k.kid == kid {
			return true
		}
	}
	return false
}

// expired follows coturn: valid while expiry >= now, in whole seconds.
func (i *Issuer) expired(expires time.Time) bool {
	return i.now().Unix() > expires.Unix()
}

func sign(key []byte, username string) string {
	mac := hmac.New(sha1.New, key)
	mac.Write([]byte(username)) // hash.Hash.Write never fails
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
