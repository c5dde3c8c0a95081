package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/proc"
)

// Key rotation and the token lifetime bound, through the real binary
// configured the way an operator would: BLITZBUY_JWT_KEYS lists the current
// key and the previous one; the key before that was removed.
func TestJWTKeyRotationAndMaxTTL(t *testing.T) {
	env := stacktest.Load(t)
	bin := proc.Build(t, ".", filepath.Join(t.TempDir(), "orderapi"), ".")
	cur, prev, removed := testkit.RandHex(32), testkit.RandHex(32), testkit.RandHex(32)
	admin := testkit.RandHex(16)
	api := startAPI(t, bin, env, "", admin, "BLITZBUY_JWT_SECRET=", "BLITZBUY_JWT_KEYS=k3="+cur+",k2="+prev, "BLITZBUY_RATE_LIMIT=0")

	sale := "jwt-" + testkit.RandHex(4)
	put, _ := http.NewRequest(http.MethodPut, api.url+"/v1/admin/sales/"+sale,
		bytes.NewReader([]byte(`{"name":"jwt rotation","stock":100,"per_user_limit":10}`)))
	put.Header.Set("Authorization", "Bearer "+admin)
	put.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT sale: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	sign := func(kid, secret string, ttl time.Duration) string {
		tok, err := httpapi.SignToken(httpapi.JWTKey{ID: kid, Secret: []byte(secret)}, httpapi.TokenClaims{UserID: "rot-" + kid, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"current key", sign("k3", cur, time.Hour), http.StatusAccepted},
		{"previous key, still listed", sign("k2", prev, time.Hour), http.StatusAccepted},
		{"rotated-out key", sign("k1", removed, time.Hour), http.StatusUnauthorized},
		{"exp 30 days ahead", sign("k3", cur, 30*24*time.Hour), http.StatusUnauthorized},
	}
	for i, tc := range tests {
		req, _ := http.NewRequest(http.MethodPost, api.url+"/v1/sales/"+sale+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		req.Header.Set("Idempotency-Key", "rot-"+testkit.RandHex(4)+string(rune('a'+i)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}
