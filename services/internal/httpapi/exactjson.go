package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strconv"
	"strings"
)

// exactJSON rewrites one JSON document for decoding into a value of type t
// with the rules the API promises (docs/api.md, "Request bodies"), which
// encoding/json alone does not keep:
//
//   - an object key names a field exactly: encoding/json matches names
//     case-insensitively, so {"QUANTITY":2} would be read as quantity;
//   - a key appears once per object: encoding/json keeps the last of
//     {"quantity":1,"quantity":2}, while another parser in front of the API
//     may keep the first, and the two would disagree about what was ordered;
//   - where the field is an integer, a number with an integer value is that
//     integer whatever its spelling (2.0, 2e0, 20e-1: JSON Schema's integer),
//     and any other number is refused with the field's name.
//
// It returns the document re-encoded with integers spelled as integers; a
// violation is an error whose message names the key, never echoing values.
// Unknown keys and type mismatches other than numbers are left to the
// decoder (DisallowUnknownFields), which reports them as before.
func exactJSON(raw []byte, t reflect.Type) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := readValue(dec, "", t, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return json.Marshal(v)
}

// maxDepth bounds nesting: no request body nests; a deep one is an attack.
const maxDepth = 32

var errTrailing = fmt.Errorf("the body must hold exactly one JSON object")

// bodyError is a violation of exactJSON's rules, for jsonErrorDetail.
type bodyError struct{ msg string }

func (e *bodyError) Error() string { return e.msg }

// readValue reads the next value; t is the Go type it will be decoded into
// (nil: not a field of the target, left to the decoder).
func readValue(dec *json.Decoder, path string, t reflect.Type, depth int) (any, error) {
	if depth > maxDepth {
		return nil, &bodyError{"the body nests too deeply"}
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '{':
			return readObject(dec, path, t, depth)
		case '[':
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			out := []any{}
			for dec.More() {
				v, err := readValue(dec, path+"[]", elem, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return out, nil
		}
		return nil, &bodyError{"invalid JSON"}
	case json.Number:
		if t != nil && isInteger(t.Kind()) {
			return integer(tok, path)
		}
		return tok, nil
	default:
		return tok, nil
	}
}

func readObject(dec *json.Decoder, path string, t reflect.Type, depth int) (any, error) {
	fields := jsonFields(t)
	out := orderedObject{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, &bodyError{"invalid JSON"}
		}
		name := join(path, key)
		if seen[key] {
			return nil, &bodyError{"duplicate key " + quoteKey(name)}
		}
		seen[key] = true
		var ft reflect.Type
		if fields != nil {
			f, exact := fields[key]
			if !exact {
				return nil, &bodyError{"unknown field " + quoteKey(name)}
			}
			ft = f
		}
		v, err := readValue(dec, name, ft, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, member{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

// jsonFields maps a struct's JSON names, exactly as its tags spell them, to
// their types; nil when t is not a struct (a map, or not a field at all).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	m := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

func isInteger(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// integer spells an integer-valued number as an integer; a fraction is an
// error naming the field. Out-of-range values are left to the decoder.
func integer(n json.Number, path string) (json.RawMessage, error) {
	if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return json.RawMessage(n), nil
	}
	// Bound the exponent before big.Rat expands it: 1e999999999 would take
	// gigabytes. No quantity needs more than a few dozen digits.
	if i := strings.IndexAny(string(n), "eE"); i >= 0 {
		if exp, err := strconv.Atoi(string(n[i+1:])); err != nil || exp > 64 || exp < -64 {
			return nil, &bodyError{"field " + quoteKey(path) + " is out of range"}
		}
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok || !r.IsInt() {
		return nil, &bodyError{"field " + quoteKey(path) + " must be an integer"}
	}
	if r.Num().BitLen() > 128 { // 1e309 and beyond: not a quantity, not worth the digits
		return nil, &bodyError{"field " + quoteKey(path) + " is out of range"}
	}
	return json.RawMessage(r.Num().String()), nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// quoteKey quotes a key for an error message, cut short so that a long key
// is not echoed back whole.
func quoteKey(k string) string {
	if len(k) > 64 {
		k = k[:64] + "…"
	}
	return strconv.Quote(k)
}

// orderedObject keeps an object's members in their order when re-encoded.
type orderedObject []member

type member struct {
	key string
	val any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.val)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
