package httpapi

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// JWTKey is one HS256 key user tokens may be signed with. A token names its
// key in its kid header; the key with the empty ID is the one for tokens
// without a kid (BLITZBUY_JWT_SECRET, the single-key case).
type JWTKey struct {
	ID     string
	Secret []byte
}

// JWTConfig is how user tokens are checked.
type JWTConfig struct {
	// Keys are every key a valid token may be signed with; the first is the
	// one blitzctl signs with unless told otherwise. Rotation: list the new
	// key first and keep the old one until every token signed with it has
	// expired (at most MaxTTL), then remove it.
	Keys []JWTKey
	// Issuer and Audience, when set, must be the token's iss and among its
	// aud.
	Issuer, Audience string
	// MaxTTL bounds a token's lifetime: a token whose exp is further than
	// this from now, or from its iat, is refused.
	MaxTTL time.Duration
}

// DefaultMaxTTL is BLITZBUY_JWT_MAX_TTL's default.
const DefaultMaxTTL = 24 * time.Hour

// JWT configuration errors.
var (
	ErrNoJWTKey  = errors.New("auth: no JWT key (set BLITZBUY_JWT_SECRET, BLITZBUY_JWT_KEYS or BLITZBUY_JWT_KEYS_FILE)")
	ErrJWTKeyID  = errors.New("auth: a JWT key id must be 1-64 characters of [A-Za-z0-9._-], each listed once")
	ErrJWTMaxTTL = errors.New("auth: the JWT maximum lifetime must be between 1m and 8760h")
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate reports every unusable setting.
func (c JWTConfig) Validate() error {
	var errs []error
	if len(c.Keys) == 0 {
		errs = append(errs, ErrNoJWTKey)
	}
	seen := map[string]bool{}
	for _, k := range c.Keys {
		if len(k.Secret) < 32 {
			errs = append(errs, fmt.Errorf("key %q: %w", k.ID, ErrJWTSecretTooShort))
		}
		if (k.ID != "" && !keyIDPattern.MatchString(k.ID)) || seen[k.ID] {
			errs = append(errs, fmt.Errorf("key %q: %w", k.ID, ErrJWTKeyID))
		}
		seen[k.ID] = true
	}
	if c.MaxTTL < time.Minute || c.MaxTTL > 365*24*time.Hour {
		errs = append(errs, ErrJWTMaxTTL)
	}
	return errors.Join(errs...)
}

// Key returns the key with id: the signing key for blitzctl --kid. An empty
// id is the first key.
func (c JWTConfig) Key(id string) (JWTKey, error) {
	if id == "" && len(c.Keys) > 0 {
		return c.Keys[0], nil
	}
	for _, k := range c.Keys {
		if k.ID == id {
			return k, nil
		}
	}
	return JWTKey{}, fmt.Errorf("no JWT key with id %q", id)
}

// ParseJWTKeys reads a key list: "id=secret" entries separated by commas or
// newlines (BLITZBUY_JWT_KEYS, or the lines of BLITZBUY_JWT_KEYS_FILE).
// Blank entries and lines starting with # are skipped; whitespace around an
// id or a secret is trimmed, so a secret cannot contain a comma, a newline or
// leading or trailing blanks.
func ParseJWTKeys(list string) ([]JWTKey, error) {
	var keys []JWTKey
	for entry := range strings.FieldsFuncSeq(list, func(r rune) bool { return r == ',' || r == '\n' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		id, secret, ok := strings.Cut(entry, "=")
		id, secret = strings.TrimSpace(id), strings.TrimSpace(secret)
		if !ok || !keyIDPattern.MatchString(id) {
			// Never echo the entry: it holds a secret.
			return nil, fmt.Errorf("JWT key %d: want id=secret with an id of 1-64 characters of [A-Za-z0-9._-]", len(keys)+1)
		}
		keys = append(keys, JWTKey{ID: id, Secret: []byte(secret)})
	}
	return keys, nil
}
