package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
)

// hs256 signs header.payload by hand, so a test can write claims that
// SignUserToken never would (dates as strings, fractions, no exp).
func hs256(secret, header, payload string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestUserIDClaims(t *testing.T) {
	secret := strings.Repeat("k", 32)
	auth, err := httpapi.NewAuthenticator(secret, strings.Repeat("a", 16))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	itoa := func(d time.Duration) string { return strconv.FormatInt(now+int64(d/time.Second), 10) }
	hdr := `{"alg":"HS256","typ":"JWT"}`
	tests := []struct {
		name    string
		token   string
		wantSub string
	}{
		{name: "valid", token: hs256(secret, hdr, `{"sub":"u1","exp":`+itoa(time.Hour)+`}`), wantSub: "u1"},
		{name: "fractional exp", token: hs256(secret, hdr, `{"sub":"u1","exp":`+itoa(time.Hour)+`.5}`), wantSub: "u1"},
		{name: "with iat, nbf, iss, aud", token: hs256(secret, hdr, `{"sub":"u2","iat":`+itoa(0)+`,"nbf":`+itoa(-time.Minute)+`,"exp":`+itoa(time.Hour)+`,"iss":"x","aud":["a","b"]}`), wantSub: "u2"},
		{name: "expired", token: hs256(secret, hdr, `{"sub":"u1","exp":`+itoa(-time.Minute)+`}`)},
		{name: "expired within the leeway", token: hs256(secret, hdr, `{"sub":"u1","exp":`+itoa(-2*time.Second)+`}`), wantSub: "u1"},
		{name: "no exp", token: hs256(secret, hdr, `{"sub":"u1"}`)},
		{name: "exp as a string", token: hs256(secret, hdr, `{"sub":"u1","exp":"`+itoa(time.Hour)+`"}`)},
		{name: "not yet valid", token: hs256(secret, hdr, `{"sub":"u1","nbf":`+itoa(time.Hour)+`,"exp":`+itoa(2*time.Hour)+`}`)},
		{name: "wrong key", token: hs256(strings.Repeat("x", 32), hdr, `{"sub":"u1","exp":`+itoa(time.Hour)+`}`)},
		{name: "alg none", token: strings.TrimSuffix(hs256(secret, `{"alg":"none"}`, `{"sub":"u1","exp":`+itoa(time.Hour)+`}`), "x")},
		{name: "empty subject", token: hs256(secret, hdr, `{"sub":"","exp":`+itoa(time.Hour)+`}`)},
		{name: "subject with a space", token: hs256(secret, hdr, `{"sub":"a b","exp":`+itoa(time.Hour)+`}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.UserID(tc.token)
			if tc.wantSub == "" {
				if err == nil {
					t.Fatalf("UserID = %q, want it refused", got)
				}
				return
			}
			if err != nil || got != tc.wantSub {
				t.Errorf("UserID = %q, %v; want %q", got, err, tc.wantSub)
			}
		})
	}
}

// Tokens that SignUserToken issues are what UserID accepts.
func TestSignedTokenRoundTrip(t *testing.T) {
	secret := strings.Repeat("k", 32)
	auth, _ := httpapi.NewAuthenticator(secret, strings.Repeat("a", 16))
	tok, err := httpapi.SignUserToken([]byte(secret), "buyer-7", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := auth.UserID(tok); err != nil || got != "buyer-7" {
		t.Errorf("UserID = %q, %v; want buyer-7", got, err)
	}
}

// BenchmarkUserID is one JWT verification, what every order pays:
//
//	go test -run '^$' -bench UserID -benchmem -count 5 ./services/internal/httpapi/
func BenchmarkUserID(b *testing.B) {
	secret := strings.Repeat("k", 32)
	auth, _ := httpapi.NewAuthenticator(secret, strings.Repeat("a", 16))
	tok, _ := httpapi.SignUserToken([]byte(secret), "buyer-7", time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := auth.UserID(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// Keys are chosen by kid; the maximum lifetime, issuer and audience are
// enforced (BLITZBUY_JWT_KEYS, _MAX_TTL, _ISSUER, _AUDIENCE).
func TestUserIDKeysAndPolicy(t *testing.T) {
	cur, prev, gone, legacy := strings.Repeat("c", 32), strings.Repeat("p", 32), strings.Repeat("g", 32), strings.Repeat("l", 32)
	cfg := httpapi.JWTConfig{
		Keys:   []httpapi.JWTKey{{ID: "k2", Secret: []byte(cur)}, {ID: "k1", Secret: []byte(prev)}},
		MaxTTL: httpapi.DefaultMaxTTL,
	}
	keyed, err := cfg.Authenticator(strings.Repeat("a", 16))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys = append(cfg.Keys, httpapi.JWTKey{Secret: []byte(legacy)})
	cfg.Issuer, cfg.Audience = "https://id.example", "blitzbuy"
	strict, err := cfg.Authenticator(strings.Repeat("a", 16))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	at := func(d time.Duration) string { return strconv.FormatInt(now+int64(d/time.Second), 10) }
	claims := func(extra string) string {
		return `{"sub":"u1","iat":` + at(0) + `,"exp":` + at(time.Hour) + extra + `}`
	}
	kid := func(id string) string { return `{"alg":"HS256","typ":"JWT","kid":"` + id + `"}` }
	plain := `{"alg":"HS256","typ":"JWT"}`
	tests := []struct {
		name   string
		auth   *httpapi.Authenticator
		token  string
		accept bool
	}{
		{"current key", keyed, hs256(cur, kid("k2"), claims("")), true},
		{"previous key, still listed", keyed, hs256(prev, kid("k1"), claims("")), true},
		{"rotated-out key", keyed, hs256(gone, kid("k0"), claims("")), false},
		{"listed kid, other key's signature", keyed, hs256(prev, kid("k2"), claims("")), false},
		{"no kid without a kid-less key", keyed, hs256(cur, plain, claims("")), false},
		{"kid not a string", keyed, hs256(cur, `{"alg":"HS256","kid":2}`, claims("")), false},
		{"empty kid", keyed, hs256(cur, kid(""), claims("")), false},
		{"exp 30 days ahead", keyed, hs256(cur, kid("k2"), `{"sub":"u1","exp":`+at(30*24*time.Hour)+`}`), false},
		{"exp 23 h ahead", keyed, hs256(cur, kid("k2"), `{"sub":"u1","exp":`+at(23*time.Hour)+`}`), true},
		{"exp 25 h after iat", keyed, hs256(cur, kid("k2"), `{"sub":"u1","iat":`+at(-2*time.Hour)+`,"exp":`+at(23*time.Hour)+`}`), false},
		{"iat in the future", keyed, hs256(cur, kid("k2"), `{"sub":"u1","iat":`+at(time.Hour)+`,"exp":`+at(2*time.Hour)+`}`), false},
		{"issuer and audience", strict, hs256(cur, kid("k2"), claims(`,"iss":"https://id.example","aud":["shop","blitzbuy"]`)), true},
		{"kid-less key beside kid'd ones", strict, hs256(legacy, plain, claims(`,"iss":"https://id.example","aud":"blitzbuy"`)), true},
		{"no issuer", strict, hs256(cur, kid("k2"), claims(`,"aud":"blitzbuy"`)), false},
		{"other issuer", strict, hs256(cur, kid("k2"), claims(`,"iss":"https://evil.example","aud":"blitzbuy"`)), false},
		{"other audience", strict, hs256(cur, kid("k2"), claims(`,"iss":"https://id.example","aud":"shop"`)), false},
		{"no audience", strict, hs256(cur, kid("k2"), claims(`,"iss":"https://id.example"`)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.auth.UserID(tc.token)
			if accepted := err == nil; accepted != tc.accept {
				t.Fatalf("UserID = %q, %v; want accepted=%v", got, err, tc.accept)
			}
		})
	}
}

// SignToken writes what the verifier checks: kid, iss, aud.
func TestSignTokenRoundTrip(t *testing.T) {
	cfg := httpapi.JWTConfig{Keys: []httpapi.JWTKey{{ID: "new", Secret: []byte(strings.Repeat("n", 32))}, {ID: "old", Secret: []byte(strings.Repeat("o", 32))}},
		Issuer: "iss", Audience: "aud", MaxTTL: time.Hour}
	auth, err := cfg.Authenticator(strings.Repeat("a", 16))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "new", "old"} {
		key, err := cfg.Key(id)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := httpapi.SignToken(key, httpapi.TokenClaims{UserID: "buyer-7", TTL: time.Hour, Issuer: "iss", Audience: "aud"})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := auth.UserID(tok); err != nil || got != "buyer-7" {
			t.Errorf("kid %q: UserID = %q, %v; want buyer-7", id, got, err)
		}
		if tok, _ := httpapi.SignToken(key, httpapi.TokenClaims{UserID: "buyer-7", TTL: 2 * time.Hour, Issuer: "iss", Audience: "aud"}); tok != "" {
			if _, err := auth.UserID(tok); err == nil {
				t.Errorf("kid %q: a token outliving MaxTTL was accepted", id)
			}
		}
	}
	if _, err := cfg.Key("nope"); err == nil {
		t.Error(`Key("nope") found a key`)
	}
}

func TestJWTConfigValidate(t *testing.T) {
	long := []byte(strings.Repeat("s", 32))
	tests := []struct {
		name string
		cfg  httpapi.JWTConfig
		want error
	}{
		{"one key", httpapi.JWTConfig{Keys: []httpapi.JWTKey{{Secret: long}}, MaxTTL: time.Hour}, nil},
		{"no key", httpapi.JWTConfig{MaxTTL: time.Hour}, httpapi.ErrNoJWTKey},
		{"short key", httpapi.JWTConfig{Keys: []httpapi.JWTKey{{ID: "a", Secret: long[1:]}}, MaxTTL: time.Hour}, httpapi.ErrJWTSecretTooShort},
		{"duplicate id", httpapi.JWTConfig{Keys: []httpapi.JWTKey{{ID: "a", Secret: long}, {ID: "a", Secret: long}}, MaxTTL: time.Hour}, httpapi.ErrJWTKeyID},
		{"bad id", httpapi.JWTConfig{Keys: []httpapi.JWTKey{{ID: "a/b", Secret: long}}, MaxTTL: time.Hour}, httpapi.ErrJWTKeyID},
		{"no max ttl", httpapi.JWTConfig{Keys: []httpapi.JWTKey{{Secret: long}}}, httpapi.ErrJWTMaxTTL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseJWTKeys(t *testing.T) {
	keys, err := httpapi.ParseJWTKeys("k2=" + strings.Repeat("a", 32) + ", k1 = " + strings.Repeat("b", 32) + "\n# old\n\nk0=" + strings.Repeat("c", 32) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID+":"+string(k.Secret[:1]))
	}
	if got := strings.Join(ids, " "); got != "k2:a k1:b k0:c" {
		t.Errorf("ParseJWTKeys = %s, want k2:a k1:b k0:c", got)
	}
	for _, bad := range []string{"nokey", "=secret", "a b=secret"} {
		if _, err := httpapi.ParseJWTKeys(bad + strings.Repeat("x", 32)); err == nil {
			t.Errorf("ParseJWTKeys(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "xxxx") {
			t.Errorf("ParseJWTKeys error %q echoes the secret", err)
		}
	}
}
