package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
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
	secret     []byte
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

// ValidateCredentials reports every credential too short to be safe. The
// Authenticator owns these rules; the config package calls this so a bad
// environment fails before anything connects.
func ValidateCredentials(jwtSecret, adminToken string) error {
	var errs []error
	if len(jwtSecret) < 32 {
		errs = append(errs, ErrJWTSecretTooShort)
	}
	if len(adminToken) < 16 {
		errs = append(errs, ErrAdminTokenTooShort)
	}
	return errors.Join(errs...)
}

// NewAuthenticator returns an Authenticator over credentials that pass
// ValidateCredentials.
func NewAuthenticator(jwtSecret, adminToken string) (*Authenticator, error) {
	if err := ValidateCredentials(jwtSecret, adminToken); err != nil {
		return nil, err
	}
	return &Authenticator{
		secret:     []byte(jwtSecret),
		adminToken: []byte(adminToken),
		adminID:    tokenID("admin", adminToken),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(5*time.Second),
		),
	}, nil
}

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
	if !order.ValidUserID(claims.Sub) {
		return "", errBadToken
	}
	return claims.Sub, nil
}

func (a *Authenticator) key(*jwt.Token) (any, error) { return a.secret, nil }

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

// Token signs a user JWT (for `task token`, tests and the load generator).
func (a *Authenticator) Token(userID string, ttl time.Duration) (string, error) {
	return SignUserToken(a.secret, userID, ttl)
}

// SignUserToken signs an HS256 JWT with sub = userID and exp = now + ttl.
func SignUserToken(secret []byte, userID string, ttl time.Duration) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: userID, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}).SignedString(secret)
}

// middleware authenticates: users (JWT), the admin (token), or either.
func (a *Authenticator) middleware(allowUser, allowAdmin bool, onErr func(http.ResponseWriter, *http.Request, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := bearer(r)
			if !ok {
				onErr(w, r, errNoCredentials)
				return
			}
			var p Principal
			switch {
			case allowAdmin && a.isAdmin(token):
				p = Principal{Admin: true, TokenID: a.adminID}
			case allowUser:
				id, err := a.UserID(token)
				if err != nil {
					onErr(w, r, err)
					return
				}
				p = Principal{UserID: id}
			default:
				onErr(w, r, errNotAdmin)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		})
	}
}
