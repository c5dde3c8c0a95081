package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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
