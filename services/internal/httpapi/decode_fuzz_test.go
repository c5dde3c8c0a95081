package httpapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

func FuzzDecodeOrderRequest(f *testing.F) {
	const ct = "application/json"
	long := strings.Repeat("a", 5000)
	deep := strings.Repeat(`{"quantity":`, 2000) + "1" + strings.Repeat("}", 2000)
	for _, s := range []struct{ ct, body string }{
		{ct, ""}, {"", ""}, {"text/plain", ""}, {ct, "   \n\t"}, {ct, "{}"}, {ct, "null"}, {ct, "[]"}, {ct, `"x"`}, {ct, "1"},
		{ct, `{"quantity":1}`}, {ct, `{"quantity":1000000}`}, {ct, `{"quantity":1000001}`}, {ct, `{"quantity":0}`},
		{ct, `{"quantity":-1}`}, {ct, `{"quantity":-0}`}, {ct, `{"quantity":1e309}`}, {ct, `{"quantity":1e3}`},
		{ct, `{"quantity":1.0}`}, {ct, `{"quantity":1.5}`}, {ct, `{"quantity":9223372036854775807}`},
		{ct, `{"quantity":9223372036854775808}`}, {ct, `{"quantity":-9223372036854775808}`},
		{ct, `{"quantity":99999999999999999999999999999}`}, {ct, `{"quantity":"1"}`}, {ct, `{"quantity":null}`},
		{ct, `{"quantity":true}`}, {ct, `{"quantity":[1]}`}, {ct, `{"quantity":{"n":1}}`},
		{ct, `{"quantity":1,"quantity":2}`}, {ct, `{"QUANTITY":3}`}, {ct, `{"Quantity":3}`}, {ct, `{"quantıty":3}`},
		{ct, `{"quantity":1,"extra":2}`}, {ct, `{"nested":{"a":{"b":[1,2,{"c":null}]}}}`},
		{ct, `{"quantity":1}garbage`}, {ct, `{"quantity":1}{"quantity":2}`}, {ct, `{"quantity":1}]`}, {ct, `{"quantity":1}}`},
		{ct, `{"quantity":1} `}, {ct, `{"quantity":1`}, {ct, `{"quantity":}`}, {ct, `{"quantity" 1}`},
		{ct, "\x00"}, {ct, `{"quantity":1}` + "\x00"}, {ct, `{"quan` + "\x00" + `tity":1}`}, {ct, "{\"\xff\xfe\":1}"},
		{ct, "\xef\xbb\xbf{\"quantity\":1}"}, {ct, `{"quantity":1,"k":"` + "\x01\x1f" + `"}`},
		{ct, `{"` + long + `":1}`}, {ct, `{"quantity":1,"pad":"` + long + `"}`}, {ct, deep}, {ct, strings.Repeat("[", 3000)},
		{"application/json; charset=utf-8", `{"quantity":2}`}, {"APPLICATION/JSON", `{"quantity":2}`},
		{"application/json;", `{"quantity":2}`}, {"application/json; charset", `{"quantity":2}`},
		{"application/problem+json", `{"quantity":2}`}, {"text/json", `{"quantity":2}`}, {"application/x-www-form-urlencoded", "quantity=2"},
		{"multipart/form-data; boundary=x", "--x--"}, {"application/json\x00", `{"quantity":2}`},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		// As the handler calls it: behind a MaxBytesReader.
		rec := httptest.NewRecorder()
		qty, status, err := DecodeOrderRequest(contentType, http.MaxBytesReader(rec, io.NopCloser(bytes.NewReader(body)), maxBody))
		if err != nil {
			var oe *order.Error
			if !errors.As(err, &oe) || oe.Code != order.CodeInvalidRequest {
				t.Fatalf("error %T %v, want an *order.Error with code %s", err, err, order.CodeInvalidRequest)
			}
			switch status {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			default:
				t.Fatalf("error %v with status %d, want 400, 413 or 415", err, status)
			}
			if status == http.StatusRequestEntityTooLarge && len(body) <= maxBody {
				t.Fatalf("413 for a body of %d bytes (limit %d)", len(body), maxBody)
			}
			if len(oe.Message) > 200 {
				t.Fatalf("error message of %d bytes echoes the input: %.100q", len(oe.Message), oe.Message)
			}
			return
		}
		if status != 0 {
			t.Fatalf("accepted quantity %d with status %d, want 0", qty, status)
		}
		if qty < 1 || qty > maxQuantity {
			t.Fatalf("accepted quantity %d outside [1, %d]", qty, maxQuantity)
		}
		if len(body) > maxBody {
			t.Fatalf("accepted a body of %d bytes (limit %d)", len(body), maxBody)
		}
		if rest := bytes.TrimSpace(body); len(rest) > 0 && rest[0] != '{' {
			t.Fatalf("accepted a non-empty body that is not a JSON object: %.100q", body)
		}
		again, status, err := DecodeOrderRequest("application/json", strings.NewReader(`{"quantity":`+strconv.FormatInt(qty, 10)+`}`))
		if err != nil || again != qty || status != 0 {
			t.Fatalf(`{"quantity":%d} decodes to %d, status %d, err %v`, qty, again, status, err)
		}
	})
}

// fuzzSecret signs the tokens of FuzzBearerJWT.
var fuzzSecret = []byte("fuzz-secret-0123456789abcdef-0123456789")

func b64(v any) string {
	var raw []byte
	switch v := v.(type) {
	case string:
		raw = []byte(v)
	default:
		raw, _ = json.Marshal(v)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// handToken builds a JWT by hand, signed with HMAC (sha256 or sha512) of key,
// or with the given raw signature when key is nil.
func handToken(header, claims any, key []byte, h512 bool, rawSig string) string {
	in := b64(header) + "." + b64(claims)
	if key == nil {
		return in + "." + rawSig
	}
	hf := sha256.New
	if h512 {
		hf = sha512.New
	}
	m := hmac.New(hf, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signedByUs reports whether tok is an HS256 JWT signed with fuzzSecret whose
// payload has an unexpired exp and a sub — checked without the jwt library.
func signedByUs(tok string) (sub string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", false
	}
	dec := func(s string) ([]byte, bool) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			b, err = base64.URLEncoding.DecodeString(s)
		}
		return b, err == nil
	}
	hb, ok1 := dec(parts[0])
	pb, ok2 := dec(parts[1])
	sig, ok3 := dec(parts[2])
	if !ok1 || !ok2 || !ok3 {
		return "", false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Sub *string      `json:"sub"`
		Exp *json.Number `json:"exp"` // the jwt library also takes "exp":"123"
	}
	if json.Unmarshal(hb, &header) != nil || header.Alg != "HS256" || json.Unmarshal(pb, &claims) != nil {
		return "", false
	}
	m := hmac.New(sha256.New, fuzzSecret)
	m.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(m.Sum(nil), sig) || claims.Exp == nil || claims.Sub == nil {
		return "", false
	}
	if exp, err := claims.Exp.Float64(); err != nil || time.Unix(int64(exp), 0).Add(10*time.Second).Before(time.Now()) {
		return "", false
	}
	return *claims.Sub, true
}

func FuzzBearerJWT(f *testing.F) {
	a, err := NewAuthenticator(string(fuzzSecret), "fuzz-admin-token-0123456789")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	good := func(sub string) map[string]any { return map[string]any{"sub": sub, "exp": exp, "iat": now.Unix()} }
	hs256 := map[string]string{"alg": "HS256", "typ": "JWT"}
	valid, _ := SignUserToken(fuzzSecret, "alice", time.Hour)
	otherKey, _ := SignUserToken([]byte("another-secret-0123456789abcdef-0123"), "alice", time.Hour)
	expired, _ := SignUserToken(fuzzSecret, "alice", -time.Hour)
	tokens := []string{
		"", " ", ".", "..", "...", "a.b.c", "\x00", "\xff\xfe", "\xef\xbb\xbf" + valid, valid, valid + " ", " " + valid,
		valid + ".", valid + "x", strings.ToUpper(valid), otherKey, expired, "Bearer " + valid,
		strings.Replace(valid, ".", "..", 1),
		handToken(map[string]string{"alg": "none", "typ": "JWT"}, good("alice"), nil, false, ""),
		handToken(map[string]string{"alg": "none"}, good("alice"), nil, false, "AAAA"),
		handToken(map[string]string{"alg": "None"}, good("alice"), nil, false, ""),
		handToken(map[string]string{"alg": "HS512", "typ": "JWT"}, good("alice"), fuzzSecret, true, ""),
		handToken(map[string]string{"alg": "RS256", "typ": "JWT"}, good("alice"), nil, false, b64(strings.Repeat("s", 256))),
		handToken(map[string]string{"alg": "RS256", "typ": "JWT"}, good("alice"), fuzzSecret, false, ""),
		handToken(map[string]string{"alg": "ES256"}, good("alice"), nil, false, b64("sig")),
		handToken(map[string]string{"alg": "hs256"}, good("alice"), fuzzSecret, false, ""),
		handToken(hs256, good("alice"), fuzzSecret, false, ""),
		handToken(hs256, map[string]any{"sub": "alice"}, fuzzSecret, false, ""),                      // no exp
		handToken(hs256, map[string]any{"sub": "alice", "exp": "9999999999"}, fuzzSecret, false, ""), // exp a string
		handToken(hs256, `{"sub":"alice","exp":1e309}`, fuzzSecret, false, ""),
		handToken(hs256, `{"sub":"alice","exp":-0}`, fuzzSecret, false, ""),
		handToken(hs256, `{"sub":"alice","exp":99999999999999999999999}`, fuzzSecret, false, ""),
		handToken(hs256, map[string]any{"exp": exp}, fuzzSecret, false, ""), // no sub
		handToken(hs256, good(""), fuzzSecret, false, ""),
		handToken(hs256, good("al ice"), fuzzSecret, false, ""),
		handToken(hs256, good("al\x00ice"), fuzzSecret, false, ""),
		handToken(hs256, good(strings.Repeat("u", 129)), fuzzSecret, false, ""),
		handToken(hs256, map[string]any{"sub": "alice", "exp": exp, "nbf": exp}, fuzzSecret, false, ""),
		handToken(hs256, map[string]any{"sub": []string{"alice"}, "exp": exp}, fuzzSecret, false, ""),
		handToken(map[string]any{"alg": "HS256", "kid": "../../dev/null", "jku": "http://x"}, good("alice"), fuzzSecret, false, ""),
		handToken(map[string]any{"alg": "HS256", "crit": []string{"x"}}, good("alice"), fuzzSecret, false, ""),
		b64(`{"alg":"HS256","alg":"none"}`) + "." + b64(good("alice")) + ".",
		b64(hs256) + "." + b64(`{"sub":"alice","sub":"bob","exp":`+strconv.FormatInt(exp, 10)+`}`) + ".x",
		strings.Repeat("a", 10_000) + "." + strings.Repeat("b", 10_000) + ".c",
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",
	}
	users := []string{"alice", "", "a b", "\x00", "\xff", strings.Repeat("u", 128), strings.Repeat("u", 129), "user-42", "é", "admin"}
	for i, tok := range tokens {
		f.Add(tok, users[i%len(users)])
	}
	f.Fuzz(func(t *testing.T, token, user string) {
		id, err := a.UserID(token)
		if err == nil {
			sub, ok := signedByUs(token)
			if !ok {
				t.Fatalf("UserID accepted %q, which is not an unexpired HS256 token signed with the secret", token)
			}
			if id != sub || !order.ValidUserID(id) {
				t.Fatalf("UserID(%q) = %q, token subject %q", token, id, sub)
			}
		} else if order.CodeOf(err) != order.CodeUnauthorized {
			t.Fatalf("UserID(%q): error %v, want code %s", token, err, order.CodeUnauthorized)
		}

		// Tokens we sign ourselves are accepted exactly for valid user ids.
		tok, err := SignUserToken(fuzzSecret, user, time.Hour)
		if err != nil {
			t.Fatalf("SignUserToken(%q): %v", user, err)
		}
		id, err = a.UserID(tok)
		if order.ValidUserID(user) {
			if err != nil || id != user {
				t.Fatalf("own token for %q: UserID = %q, %v; want %q", user, id, err, user)
			}
		} else if err == nil {
			t.Fatalf("own token for invalid user id %q accepted as %q", user, id)
		}
		// The same claims signed with another key are refused.
		if forged, err := SignUserToken([]byte("not-the-secret-0123456789abcdef-012"), user, time.Hour); err == nil {
			if id, err := a.UserID(forged); err == nil {
				t.Fatalf("token signed with another key accepted as %q", id)
			}
		}
	})
}
