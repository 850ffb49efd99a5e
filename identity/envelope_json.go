package identity

import (
	"strconv"
	"strings"
)

// A quick reader for the two flat JSON objects of a key envelope, the body and the age
// message's plaintext. Every participant reads every envelope of every rekey, so their JSON is
// on the hot path; decodeStrict reads a body four times over, this reads it once.
//
// It reads only the spelling that encoders write for these objects, which is also the only
// one a valid envelope can have apart from whitespace and escapes:
//
//	object = ws "{" ws member *( ws "," ws member ) ws "}" ws
//	member = name ws ":" ws value
//	value  = string | integer | "[" ws [ string *( ws "," ws string ) ] ws "]"
//	string = '"' *( printable ASCII other than '"' and '\' ) '"'
//	integer = [ "-" ] ( "0" | [1-9] *[0-9] )
//
// and gives up (ok false) on anything else: an escape, a byte outside printable ASCII in a
// string, a fraction or exponent, null, a name it does not know, a repeated or missing
// member, a value of the wrong kind, a number out of range. Whoever calls it then reads the
// text with decodeStrict, which decides, and whose errors are reported. So what the quick
// reader accepts, decodeStrict accepts with the same values (FuzzEnvelopeJSONQuick checks
// it), and every refusal still comes from decodeStrict.

// jsonScan is the quick reader's position in a JSON text.
type jsonScan struct {
	s string
	i int
}

func (j *jsonScan) ws() {
	for j.i < len(j.s) {
		switch j.s[j.i] {
		case ' ', '\t', '\n', '\r':
			j.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c if it comes next.
func (j *jsonScan) next(c byte) bool {
	j.ws()
	if j.i < len(j.s) && j.s[j.i] == c {
		j.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (j *jsonScan) end() bool {
	j.ws()
	return j.i == len(j.s)
}

// str reads a string without escapes; its value is a substring of the text.
func (j *jsonScan) str() (string, bool) {
	if !j.next('"') {
		return "", false
	}
	start := j.i
	n := strings.IndexByte(j.s[start:], '"')
	if n < 0 {
		return "", false
	}
	v := j.s[start : start+n]
	for k := 0; k < len(v); k++ {
		if c := v[k]; c < 0x20 || c > 0x7e || c == '\\' {
			return "", false
		}
	}
	j.i = start + n + 1
	return v, true
}

// integer reads an integer literal's text.
func (j *jsonScan) integer() (string, bool) {
	j.ws()
	start := j.i
	if j.i < len(j.s) && j.s[j.i] == '-' {
		j.i++
	}
	digits := j.i
	for j.i < len(j.s) && '0' <= j.s[j.i] && j.s[j.i] <= '9' {
		j.i++
	}
	switch {
	case j.i == digits, j.s[digits] == '0' && j.i > digits+1:
		return "", false // no digits, or a leading zero
	case j.i < len(j.s) && (j.s[j.i] == '.' || j.s[j.i] == 'e' || j.s[j.i] == 'E'):
		return "", false
	}
	return j.s[start:j.i], true
}

func (j *jsonScan) unsigned() (uint64, bool) {
	lit, ok := j.integer()
	if !ok || lit[0] == '-' {
		return 0, false
	}
	v, err := strconv.ParseUint(lit, 10, 64)
	return v, err == nil
}

func (j *jsonScan) signed(bits int) (int64, bool) {
	lit, ok := j.integer()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(lit, 10, bits)
	return v, err == nil
}

// strs reads an array of strings.
func (j *jsonScan) strs() ([]string, bool) {
	if !j.next('[') {
		return nil, false
	}
	out := make([]string, 0, 64)
	if j.next(']') {
		return out, true
	}
	for {
		v, ok := j.str()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if j.next(']') {
			return out, true
		}
		if !j.next(',') {
			return nil, false
		}
	}
}

// object reads an object whose members are each one of fields, exactly once, calling value
// to read the value of field i.
func (j *jsonScan) object(fields []string, value func(i int) bool) bool {
	if !j.next('{') {
		return false
	}
	var seen uint64 // a bit per field; the objects read here have fewer than 64
	for {
		name, ok := j.str()
		if !ok || !j.next(':') {
			return false
		}
		i := indexOf(fields, name)
		if i < 0 || seen&(1<<i) != 0 || !value(i) {
			return false
		}
		seen |= 1 << i
		if j.next('}') {
			break
		}
		if !j.next(',') {
			return false
		}
	}
	return seen == 1<<len(fields)-1 && j.end()
}

func indexOf(fields []string, name string) int {
	for i, f := range fields {
		if f == name {
			return i
		}
	}
	return -1
}

// quickEnvelopeWire reads a key envelope's body in the common spelling (ok false: read it
// with decodeStrict).
func quickEnvelopeWire(body string) (w envelopeWire, ok bool) {
	j := jsonScan{s: body}
	ok = j.object(envelopeFields, func(i int) (ok bool) {
		switch envelopeFields[i] {
		case "v":
			var v int64
			v, ok = j.signed(strconv.IntSize)
			w.V = int(v)
		case "room":
			w.Room, ok = j.str()
		case "from":
			w.From, ok = j.str()
		case "kid":
			w.KID, ok = j.unsigned()
		case "to":
			w.To, ok = j.strs()
		case "age":
			w.Age, ok = j.str()
		case "iat_ms":
			w.IATms, ok = j.signed(64)
		}
		return ok
	})
	return w, ok
}

// quickEnvelopeKey reads the age message's plaintext in the common spelling (ok false: read
// it with decodeStrict).
func quickEnvelopeKey(plain string) (k envelopeKey, ok bool) {
	j := jsonScan{s: plain}
	ok = j.object(envelopeKeyFields, func(i int) (ok bool) {
		switch envelopeKeyFields[i] {
		case "room":
			k.Room, ok = j.str()
		case "from":
			k.From, ok = j.str()
		case "kid":
			k.KID, ok = j.unsigned()
		case "key":
			k.Key, ok = j.str()
		}
		return ok
	})
	return k, ok
}

// quickEnvelopeFrom finds the "from" member of a key envelope's body without reading the
// rest of it after that member (ok false: it is not in the common spelling up to there).
// It does not check the body; it only names whose certificate to verify it with.
func quickEnvelopeFrom(body string) (from string, ok bool) {
	j := jsonScan{s: body}
	if !j.next('{') {
		return "", false
	}
	for range len(envelopeFields) {
		name, ok := j.str()
		if !ok || !j.next(':') {
			return "", false
		}
		switch name {
		case "from":
			return j.str()
		case "v", "kid", "iat_ms":
			_, ok = j.signed(64)
		case "room", "age":
			_, ok = j.str()
		case "to":
			_, ok = j.strs()
		default:
			return "", false
		}
		if !ok || !j.next(',') {
			return "", false
		}
	}
	return "", false
}
