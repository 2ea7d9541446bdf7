package auth

import (
	"fmt"
	"strings"
	"time"

	"github.com/rtcd/rtcd/internal/defaults"
)

// MinTokenSecretLen is the shortest accepted HS256 key for join tokens, in bytes.
const MinTokenSecretLen = 16

// Config is the `Auth` section of etc/rtcd.yaml.
type Config struct {
	// Secrets are the TURN REST shared secrets. The first one mints new
	// credentials; all of them verify, so a rotation adds the new secret in
	// front and removes the old one after the longest TTL has passed.
	// Empty means a random secret is generated at start (fine for one node).
	// Empty strings are ignored: an unset ${RTCD_TURN_SECRET} leaves one behind.
	Secrets []string `json:",optional"`
	// TTL is the lifetime of issued TURN credentials. Defaults to 6h.
	TTL time.Duration `json:",optional"`
	// TokenSecret is the HS256 key for signaling join tokens (token mode).
	// Empty disables token mode. At least 16 bytes when set.
	TokenSecret string `json:",optional"`
}

// DefaultTTL is the lifetime of TURN credentials when Config.TTL is unset.
const DefaultTTL = 6 * time.Hour

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	defaults.Set(&c.TTL, DefaultTTL)
	return c
}

// Validate reports configuration errors naming the offending field, so a bad
// config fails at start before anything listens. A zero TTL means DefaultTTL.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if err := validateSecrets(c.Secrets); err != nil {
		return err
	}
	if err := validateTTL(c.TTL); err != nil {
		return fmt.Errorf("Auth.TTL: %w", err)
	}
	if c.TokenSecret != "" && len(c.TokenSecret) < MinTokenSecretLen {
		return fmt.Errorf("Auth.TokenSecret: %w", ErrTokenSecretShort)
	}
	return nil
}

func validateTTL(ttl time.Duration) error {
	if ttl < time.Second {
		return fmt.Errorf("auth: TTL %v must be at least 1s", ttl)
	}
	if ttl > MaxTTL {
		return fmt.Errorf("auth: TTL %v exceeds the maximum %v", ttl, MaxTTL)
	}
	return nil
}

// nonEmpty drops empty entries (unset environment references).
func nonEmpty(secrets []string) []string {
	out := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func validateSecrets(secrets []string) error {
	seen := make(map[string]int, len(secrets))
	for i, s := range secrets {
		if s == "" {
			continue
		}
		switch {
		case strings.TrimSpace(s) != s:
			// A secret read from a file with its trailing newline silently
			// breaks interop with every other issuer; refuse it loudly.
			return fmt.Errorf("Auth.Secrets[%d]: leading or trailing whitespace", i)
		}
		if j, ok := seen[s]; ok {
			return fmt.Errorf("Auth.Secrets[%d]: duplicates Auth.Secrets[%d]", i, j)
		}
		seen[s] = i
	}
	return nil
}
