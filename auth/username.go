package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// kidLen is the length of a key id: 8 lowercase hex characters.
const kidLen = 8

// maxExpiryDigits bounds the expiry field. Unix seconds fit in 10 digits until
// the year 2286; 13 digits is the classic mistake of a JavaScript Date.now()
// millisecond timestamp, which would make a credential that never expires.
const maxExpiryDigits = 10

// parsedUsername is a parsed TURN REST username.
type parsedUsername struct {
	// Expiry is the Unix time in seconds after which the credential is invalid.
	Expiry int64
	// KeyID is the 8-hex key id when the user part has the "<kid>:" shape,
	// else empty. Whether it names a configured secret is the Issuer's call.
	KeyID string
	// User is the user part after the key id (or the whole remainder after the
	// expiry when there is no key id). Quotas count per User.
	User string
	// HasUser is false for the bare "<expiry>" form (no separator).
	HasUser bool
}

// String formats u back into the wire form.
func (u parsedUsername) String() string {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(u.Expiry, 10))
	if !u.HasUser && u.KeyID == "" {
		return b.String()
	}
	b.WriteByte(':')
	if u.KeyID != "" {
		b.WriteString(u.KeyID)
		b.WriteByte(':')
	}
	b.WriteString(u.User)
	return b.String()
}

// parseUsername splits a TURN REST username "<expiry>[:<kid>:][<user>]".
// The expiry must be 1 to 10 decimal digits (seconds, not milliseconds).
func parseUsername(username string) (parsedUsername, error) {
	exp, rest, hasSep := strings.Cut(username, ":")
	if len(exp) == 0 || len(exp) > maxExpiryDigits {
		return parsedUsername{}, ErrMalformed
	}
	for i := 0; i < len(exp); i++ {
		if exp[i] < '0' || exp[i] > '9' {
			return parsedUsername{}, ErrMalformed
		}
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return parsedUsername{}, ErrMalformed
	}
	u := parsedUsername{Expiry: n, HasUser: hasSep}
	if !hasSep {
		return u, nil
	}
	if kid, user, ok := splitKID(rest); ok {
		u.KeyID, u.User = kid, user
		return u, nil
	}
	u.User = rest
	return u, nil
}

// splitKID reports whether s starts with "<8 lowercase hex>:".
func splitKID(s string) (kid, rest string, ok bool) {
	if len(s) <= kidLen || s[kidLen] != ':' {
		return "", "", false
	}
	for i := 0; i < kidLen; i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", "", false
		}
	}
	return s[:kidLen], s[kidLen+1:], true
}

// KeyID returns the key id rtcd embeds in usernames minted with secret:
// the first 8 hex characters of SHA-256("rtcd-kid:" + secret). It identifies
// the secret without revealing it.
func KeyID(secret string) string {
	sum := sha256.Sum256([]byte("rtcd-kid:" + secret))
	return hex.EncodeToString(sum[:kidLen/2])
}
