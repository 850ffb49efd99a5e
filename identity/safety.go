package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// safetyDomain starts the hashed input of a safety code.
const safetyDomain = "parley-safety-v1"

// SafetyCode is the code two participants a and b compare aloud to check that they see each
// other's real keys. With P = sig_pub (32 bytes) || the age recipient's UTF-8 bytes for
// each, P1 <= P2 bytewise:
//
//	code = first 8 bytes of SHA-256("parley-safety-v1" || P1 || P2) as a big-endian
//	       uint64, mod 10^12, as 12 decimal digits in groups of four: "0123 4567 8901"
//
// It is the same for (a, b) and (b, a), and changes if either side's keys change.
func SafetyCode(a, b PublicIdentity) string {
	p1 := append(bytes.Clone(a.SigPub), a.Age...)
	p2 := append(bytes.Clone(b.SigPub), b.Age...)
	if bytes.Compare(p1, p2) > 0 {
		p1, p2 = p2, p1
	}
	h := sha256.New()
	h.Write([]byte(safetyDomain))
	h.Write(p1)
	h.Write(p2)
	n := binary.BigEndian.Uint64(h.Sum(nil)[:8]) % 1_000_000_000_000
	d := fmt.Sprintf("%012d", n)
	return d[0:4] + " " + d[4:8] + " " + d[8:12]
}
