package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Principal is who is calling: a user (from a JWT) or the admin.
type Principal struct {
	UserID string
	Admin  bool
	// TokenID names the credential without revealing it, for audit records:
	// "admin:" and the first 16 hex digits of the admin token's SHA-256.
	TokenID string
}

type principalKey struct{}

func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// Authenticator checks bearer credentials: HS256 user JWTs and the admin token.
type Authenticator struct {
	keys       map[string][]byte // by kid; "" for tokens without one
	maxTTL     time.Duration
	adminToken []byte
	adminID    string
	parser     *jwt.Parser
}

// Credential length errors.
var (
	// ErrJWTSecretTooShort: HS256 with a key under 32 bytes (the hash's size)
	// can be brute-forced from one captured token.
	ErrJWTSecretTooShort = errors.New("auth: JWT secret must be at least 32 bytes")
	// ErrAdminTokenTooShort: 16 random bytes are beyond online guessing.
	ErrAdminTokenTooShort = errors.New("auth: admin token must be at least 16 bytes")
)

// ValidateAdminToken reports an admin token too short to be safe. The
// Authenticator owns these rules; the config package calls this so a bad
// environment fails before anything connects.
func ValidateAdminToken(adminToken string) error {
	if len(adminToken) < 16 {
		return ErrAdminTokenTooShort
	}
	return nil
}

func singleKey(secret string) JWTConfig {
	return JWTConfig{Keys: []JWTKey{{Secret: []byte(secret)}}, MaxTTL: DefaultMaxTTL}
}

// NewAuthenticator returns an Authenticator for one JWT secret (tokens
// without a kid) and the default policy.
func NewAuthenticator(jwtSecret, adminToken string) (*Authenticator, error) {
	return singleKey(jwtSecret).Authenticator(adminToken)
}

// Authenticator returns an Authenticator checking user tokens by c and the
// admin token.
func (c JWTConfig) Authenticator(adminToken string) (*Authenticator, error) {
	if err := errors.Join(c.Validate(), ValidateAdminToken(adminToken)); err != nil {
		return nil, err
	}
	a := &Authenticator{
		keys:       make(map[string][]byte, len(c.Keys)),
		maxTTL:     c.MaxTTL,
		adminToken: []byte(adminToken),
		adminID:    tokenID("admin", adminToken),
	}
	for _, k := range c.Keys {
		a.keys[k.ID] = k.Secret
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
	}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// leeway is the clock skew allowed on exp, nbf and iat.
const leeway = 5 * time.Second

var (
	errNoCredentials = order.Errorf(order.CodeUnauthorized, "a bearer token is required")
	errBadToken      = order.Errorf(order.CodeUnauthorized, "the bearer token is invalid or expired")
	errNotAdmin      = order.Errorf(order.CodeForbidden, "this endpoint requires the admin token")
)

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// tokenID is a credential's public name: kind, then the first 16 hex
// digits of its SHA-256 (not reversible, stable across restarts).
func tokenID(kind, secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return kind + ":" + hex.EncodeToString(sum[:8])
}

func (a *Authenticator) isAdmin(token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), a.adminToken) == 1
}

// UserID validates a user JWT and returns its subject.
func (a *Authenticator) UserID(token string) (string, error) {
	var claims userClaims
	if _, err := a.parser.ParseWithClaims(token, &claims, a.key); err != nil {
		return "", errBadToken
	}
	if !order.ValidUserID(claims.Sub) || !a.lifetimeOK(claims, time.Now()) {
		return "", errBadToken
	}
	return claims.Sub, nil
}

// lifetimeOK refuses a token that outlives the maximum lifetime: exp more
// than maxTTL from now, or from iat. exp is present (the parser requires it).
func (a *Authenticator) lifetimeOK(c userClaims, now time.Time) bool {
	limit := float64(a.maxTTL+leeway) / float64(time.Second)
	exp := *c.Exp
	if exp-float64(now.UnixNano())/1e9 > limit {
		return false
	}
	return c.Iat == nil || exp-*c.Iat <= limit
}

var errUnknownKey = errors.New("no key with this kid")

// key picks the token's key by its kid header; no kid is the key with the
// empty id (BLITZBUY_JWT_SECRET), if there is one.
func (a *Authenticator) key(t *jwt.Token) (any, error) {
	kid := ""
	if v, present := t.Header["kid"]; present {
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, errUnknownKey
		}
		kid = s
	}
	if k, ok := a.keys[kid]; ok {
		return k, nil
	}
	return nil, errUnknownKey
}

// userClaims are the registered claims BlitzBuy reads, with the numeric
// dates decoded as plain JSON numbers. jwt.RegisteredClaims decodes each
// date through a second json.Unmarshal into a json.Number (6 % of
// order-api's CPU on the hot item, docs/benchmarks.md); the validation is
// still golang-jwt's, through the getters below. RFC 7519 dates are JSON
// numbers, possibly fractional: a date written as a string is refused.
type userClaims struct {
	Sub string           `json:"sub"`
	Iss string           `json:"iss"`
	Aud jwt.ClaimStrings `json:"aud"`
	Exp *float64         `json:"exp"`
	Nbf *float64         `json:"nbf"`
	Iat *float64         `json:"iat"`
}

var _ jwt.Claims = (*userClaims)(nil)

func (c *userClaims) GetExpirationTime() (*jwt.NumericDate, error) { return numericDate(c.Exp), nil }
func (c *userClaims) GetNotBefore() (*jwt.NumericDate, error)      { return numericDate(c.Nbf), nil }
func (c *userClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return numericDate(c.Iat), nil }
func (c *userClaims) GetIssuer() (string, error)                   { return c.Iss, nil }
func (c *userClaims) GetSubject() (string, error)                  { return c.Sub, nil }
func (c *userClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Aud, nil }

// numericDate is what jwt.NumericDate's own decoder makes of seconds.
func numericDate(secs *float64) *jwt.NumericDate {
	if secs == nil {
		return nil
	}
	whole, frac := math.Modf(*secs)
	return &jwt.NumericDate{Time: time.Unix(int64(whole), int64(frac*1e9)).Truncate(jwt.TimePrecision)}
}

// SignUserToken signs an HS256 JWT with sub = userID and exp = now + ttl,
// without a kid (the BLITZBUY_JWT_SECRET case).
func SignUserToken(secret []byte, userID string, ttl time.Duration) (string, error) {
	return SignToken(JWTKey{Secret: secret}, TokenClaims{UserID: userID, TTL: ttl})
}

// TokenClaims are what SignToken writes into a user JWT.
type TokenClaims struct {
	UserID           string
	TTL              time.Duration
	Issuer, Audience string // omitted when empty
}

// SignToken signs an HS256 user JWT with key, naming it in the kid header
// when it has an id (for blitzctl token, tests and the load generator).
func SignToken(key JWTKey, c TokenClaims) (string, error) {
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject: c.UserID, Issuer: c.Issuer, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(c.TTL)),
	}
	if c.Audience != "" {
		claims.Audience = jwt.ClaimStrings{c.Audience}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	if key.ID != "" {
		t.Header["kid"] = key.ID
	}
	return t.SignedString(key.Secret)
}

// middleware authenticates: users (JWT), the admin (token), or either. A
// source address past its failed-authentication limit (lim) is answered 429
// before its credentials are read; each 401 or 403 counts against it.
func (a *Authenticator) middleware(allowUser, allowAdmin bool, lim *authLimiter, onErr func(http.ResponseWriter, *http.Request, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if wait := lim.blocked(r.RemoteAddr); wait > 0 {
				secs := strconv.Itoa(int((wait + time.Second - 1) / time.Second))
				h := w.Header()
				h.Set("Retry-After", secs)
				h.Set("RateLimit-Limit", strconv.Itoa(lim.Limit))
				h.Set("RateLimit-Remaining", "0")
				h.Set("RateLimit-Reset", secs)
				onErr(w, r, order.Errorf(order.CodeRateLimited, "too many failed authentications from this address; retry in %s s", secs))
				return
			}
			fail := func(err error) {
				lim.failed(r.RemoteAddr)
				onErr(w, r, err)
			}
			token, ok := bearer(r)
			if !ok {
				fail(errNoCredentials)
				return
			}
			var p Principal
			switch {
			case allowAdmin && a.isAdmin(token):
				p = Principal{Admin: true, TokenID: a.adminID}
			case allowUser:
				id, err := a.UserID(token)
				if err != nil {
					fail(err)
					return
				}
				p = Principal{UserID: id}
			default:
				fail(errNotAdmin)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		})
	}
}
