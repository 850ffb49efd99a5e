// Package identity owns who is who in Parley and the end-to-end encryption of media: node
// keys, participant identities, certificates (a node vouching for a participant), signed key
// envelopes (per-sender media keys wrapped with age), the key schedule, SFrame (RFC 9605) and
// the safety codes people compare aloud.
//
// identity imports only the standard library and cryptography libraries; it must never know
// about sockets, rooms or the store. It reads and writes key files but never decides where
// they live: callers pass paths.
//
// The web client (node/web/static/e2ee) implements the same formats in JavaScript; both must
// produce and read the same bytes. This comment is the contract for both.
//
// # Encodings
//
// b64u is base64url without padding (RFC 4648 §5). Public keys: sig_pub is a raw 32-byte
// Ed25519 public key in b64u; age is an age X25519 recipient ("age1…"). Times are unix
// seconds unless named _ms. A "signed object" is the JSON
//
//	{"body":"<JSON text>","sig":"<b64u Ed25519 signature>"}
//
// whose signature covers the UTF-8 bytes of a domain prefix followed by body, exactly as
// transmitted; a reader verifies first and only then parses body. A certificate body is at
// most 4096 bytes, a key envelope body at most 262144 bytes (256 KiB). Bodies are parsed
// strictly: unknown, duplicate, missing or null fields and trailing data are errors.
//
// # Certificate (prefix "parley-cert-v1\n", signed by the home node key)
//
//	body: {"v":1,"id":"<participant id>","tag":<uint32>,"name":"<display name>",
//	       "org":"<organisation: the node's name>","node":"<b64u node public key>",
//	       "room":"<room id>","sig_pub":"<b64u>","age":"age1…","iat":<s>,"exp":<s>}
//
// exp - iat <= 12 h; id and room are [A-Za-z0-9_-]{1,64}; name is 1-64 characters and org
// 1-200 bytes, neither blank nor holding control characters.
//
// A participant their home node signed in with its organisation's identity provider gets a
// version 2 body: the same fields with "v":2, plus the provider's issuer, the person's subject
// there and their e-mail address (possibly empty), which the home node vouches for:
//
//	body: {"v":2,…,"iss":"https://idp.example","sub":"<subject>","email":"ada@example.org"}
//
// iss is 1-200 bytes, sub 1-255 bytes, email 0-254 bytes, none with control characters;
// name is then the provider's. A version 1 body is a guest: its name is what they typed.
//
// The home node issues it on join after checking the participant's keys. tag is the sender
// tag of the participant's KIDs in this room, unique in the room. A client accepts a
// certificate only if node is a node key it trusts, the signature verifies, room is its room
// and iat-60 <= now <= exp. Certificates live 12 hours.
//
// # KID and epochs
//
//	KID = tag<<16 | epoch        (epoch: 16 bits, counting up from 0 per sender per room)
//
// so a KID names its sender (through the certificate's tag) and the epoch. KIDs stay below
// 2^48, exact as JavaScript numbers.
//
// # Key envelope (prefix "parley-key-v1\n", signed by the sender's sig_pub)
//
//	body: {"v":1,"room":"<room id>","from":"<participant id>","kid":<KID>,
//	       "to":["<participant id>",…],"age":"<standard base64 of the binary age file>",
//	       "iat_ms":<unix ms>}
//
// The age file is ONE age message (binary format, X25519 recipients: the age recipients of
// the certificates of every participant named in "to") whose plaintext is the JSON
//
//	{"room":"<room id>","from":"<participant id>","kid":<KID>,"key":"<b64u 16-byte base key>"}
//
// and whose fields must equal the body's. "to" names 1 to 1024 distinct participants, and the
// age file holds one X25519 stanza per recipient in the order of "to", so that a recipient
// can try its own stanza first. A receiver accepts an envelope only if from names a
// participant whose certificate it accepted, kid>>16 is that certificate's tag, the signature
// verifies with its sig_pub, and the room matches. Nodes route envelopes by "to" and cannot
// open them; a node never delivers an envelope to a participant waiting in the lobby.
//
// # SFrame
//
// Cipher suite AES_128_GCM_SHA256_128 (0x0004) only. Key and salt are derived from the 16-byte
// base key exactly as RFC 9605 §4.4:
//
//	secret = HKDF-Extract(salt="", base_key)
//	key    = HKDF-Expand(secret, "SFrame 1.0 Secret key "  || KID (8 bytes BE) || 0x0004, 16)
//	salt   = HKDF-Expand(secret, "SFrame 1.0 Secret salt " || KID (8 bytes BE) || 0x0004, 12)
//	nonce  = salt XOR (CTR as 12 bytes BE)
//
// Header as RFC 9605 §4.3 (config byte |X|K(3)|Y|C(3)|, then KID and CTR big-endian in their
// minimal lengths). Readers reject non-minimal encodings, so every header has one spelling.
//
// # Media frames
//
// The first bytes of an encoded frame that the SFU needs stay in the clear and are
// authenticated as SFrame metadata:
//
//	+------------------+---------------+---------------------------+----------+
//	| clear (C bytes)  | SFrame header | ciphertext of the rest    | tag (16) |
//	+------------------+---------------+---------------------------+----------+
//	AAD = SFrame header || clear
//
//	VP8:  C = 10 on a keyframe (bit 0 of the first byte is 0), else 3 (the VP8 frame tag
//	      and, on keyframes, the start code and dimensions); C = len(frame) if shorter.
//	Opus: C = 1 (the TOC byte).
//
// A frame shorter than its codec's C is not a valid codec frame; a sender drops it rather
// than send what the receiver's rule could not split.
//
// The receiver applies the same rule to the received bytes (the clear prefix arrives
// unchanged) to find the header. CTR starts at 0 for each key and counts frames; media uses
// CTR < 2^63. Receivers drop a frame whose (KID, CTR) they already accepted, within a window
// of the last 1024 CTRs per KID.
//
// # Chat
//
// A chat message is an SFrame ciphertext of its UTF-8 text under the sender's newest
// announced key: chat moves to an epoch as soon as its envelope is sent (the message follows
// the envelope on the same path, so its readers hold the key first), and a message written
// while a membership change's epoch is due waits for it (at most the 200 ms debounce), so a
// participant greeted the moment they join can read the greeting. Receivers wait up to 3 s
// for a key still on its way before showing a live message as unreadable. Chat uses CTRs
// >= 2^63 (the high bit set, so chat never reuses a media nonce) and metadata the
// UTF-8 bytes "parley-chat-v1\n" || room id. It travels in standard base64.
//
// # Key schedule
//
// Each sender owns one epoch at a time. It moves to a new epoch, with a fresh random base key
// announced in one envelope to every admitted participant, when the membership of admitted
// participants changes (a join, a leave or a removal: at once after a quiet 200 ms, else
// every change within 200 ms of the last new epoch taken as one, at the end of those 200 ms)
// and every 10 minutes. A joiner therefore never holds a key for media sent before it was
// admitted, and someone who left never holds a key for media sent after. The sender starts
// encrypting with the new key 300 ms after sending the envelope, so receivers have it before
// the first frame; on a leave or removal the old key is no longer sent with after that.
// Receivers keep a sender's previous keys for 10 seconds after a newer one arrives, for late
// frames, then erase them.
//
// # Safety code
//
// For two participants A and B, with P = sig_pub (32 bytes) || UTF-8 age recipient for each,
// ordered so that P1 <= P2 bytewise:
//
//	code = first 8 bytes of SHA-256("parley-safety-v1" || P1 || P2), as a big-endian uint64,
//	       mod 10^12, as 12 decimal digits in three groups of four: "0123 4567 8901"
//
// Both sides compute the same code; it changes if either side's keys change.
package identity
