package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// maxKeyFile bounds what LoadNodeKey reads; a PEM-encoded Ed25519 PKCS#8 key is ~120 bytes.
const maxKeyFile = 4 << 10

// pemType is the PEM block type of a node key file: the standard PKCS#8 "PRIVATE KEY", so
// that the file also reads with `openssl pkey`.
//
//	-----BEGIN PRIVATE KEY-----
//	base64(PKCS#8 PrivateKeyInfo { algorithm: id-Ed25519 (1.3.101.112), key: 32-byte seed })
//	-----END PRIVATE KEY-----
const pemType = "PRIVATE KEY"

// ErrKeyExists is returned by NodeKey.Save when the file already exists.
var ErrKeyExists = errors.New("node key file already exists")

// NodeKey is a node's Ed25519 identity key. The raw key is kept so that a libp2p peer ID can
// be derived from it once nodes federate.
type NodeKey struct {
	priv ed25519.PrivateKey
}

// GenerateNodeKey makes a new random node key.
func GenerateNodeKey() (*NodeKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate node key: %w", err)
	}
	return &NodeKey{priv: priv}, nil
}

// NodeKeyFromSeed rebuilds a node key from its 32-byte Ed25519 seed.
func NodeKeyFromSeed(seed []byte) (*NodeKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("identity: node key seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return &NodeKey{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// PublicKey is the node's public key.
func (k *NodeKey) PublicKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// PrivateKey is the node's private key. Callers must not modify it.
func (k *NodeKey) PrivateKey() ed25519.PrivateKey { return k.priv }

// Sign signs msg with the node key.
func (k *NodeKey) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// ID is a short printable name of the key for logs and status output: the first 80 bits of
// the SHA-256 of the public key, in lowercase base32 (16 characters). It is not the libp2p
// peer ID, which federation will derive from the same key.
func (k *NodeKey) ID() string {
	sum := sha256.Sum256(k.PublicKey())
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:10]))
}

// Save writes the key to path with mode 0600. It refuses to replace an existing file.
func (k *NodeKey) Save(path string) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return fmt.Errorf("identity: encode node key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("identity: %s: %w", path, ErrKeyExists)
	}
	if err != nil {
		return fmt.Errorf("identity: create node key file: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: pemType, Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("identity: write node key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("identity: write node key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("identity: write node key %s: %w", path, err)
	}
	return nil
}

// LoadNodeKey reads a key written by Save. It refuses a file that group or others may read
// or write, since anyone who reads it can impersonate the node.
func LoadNodeKey(path string) (*NodeKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity: open node key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("identity: node key %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("identity: node key %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("identity: node key %s has mode %04o, which lets other users read or change it; run `chmod 600 %s` and check who had access", path, perm, path)
	}
	if st.Size() > maxKeyFile {
		return nil, fmt.Errorf("identity: node key %s is %d bytes, not a node key", path, st.Size())
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("identity: read node key %s: %w", path, err)
	}
	return parseNodeKey(path, data)
}

func parseNodeKey(path string, data []byte) (*NodeKey, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != pemType {
		return nil, fmt.Errorf("identity: node key %s is not a PEM %q block", path, pemType)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("identity: node key %s has data after the key", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity: node key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("identity: node key %s is a %T, want an Ed25519 key", path, key)
	}
	return &NodeKey{priv: priv}, nil
}
