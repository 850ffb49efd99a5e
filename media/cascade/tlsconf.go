package cascade

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"parley/identity"
)

// alpnV1 is the TLS application protocol of wire version 1. A node of another major version
// offers another string, and the handshake fails with no_application_protocol.
const alpnV1 = "parley-cascade/1"

// wireVersion is the version sent in hello; it matches alpnV1.
const wireVersion = 1

// serverName is what a dialer puts in SNI. Nothing checks it: peers are identified by key.
const serverName = "parley-cascade"

// maxCertSize bounds a peer certificate; an Ed25519 self-signed one is about 300 bytes.
const maxCertSize = 4 << 10

// nodeCertificate makes the TLS certificate of a node: self-signed, its key the node's
// Ed25519 key, so that the TLS handshake proves possession of the federation identity. The
// validity period is not checked by peers (they trust the key, not the certificate).
func nodeCertificate(key *identity.NodeKey) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "parley node " + key.ID()},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(100 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.PublicKey(), key.PrivateKey())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create node certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key.PrivateKey()}, nil
}

// peerKey extracts the Ed25519 key of a peer's certificate chain, which must be exactly one
// self-signed Ed25519 certificate.
func peerKey(rawCerts [][]byte) (ed25519.PublicKey, error) {
	if len(rawCerts) != 1 {
		return nil, fmt.Errorf("peer sent %d certificates, want 1", len(rawCerts))
	}
	if len(rawCerts[0]) > maxCertSize {
		return nil, fmt.Errorf("peer certificate is %d bytes", len(rawCerts[0]))
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("peer certificate key is %T, want Ed25519", cert.PublicKey)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return nil, fmt.Errorf("peer certificate is not self-signed by its key: %w", err)
	}
	return pub, nil
}

// serverTLS is the acceptor's TLS configuration: it requires a client certificate and admits
// only nodes the Authorizer admits.
func serverTLS(cert tls.Certificate, auth Authorizer, protos []string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		NextProtos:   protos,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			pub, err := peerKey(rawCerts)
			if err != nil {
				return err
			}
			if !auth.AllowNode(pub) {
				return fmt.Errorf("%w: %s", ErrNotAuthorized, nodeID(pub))
			}
			return nil
		},
	}
}

// clientTLS is the dialer's TLS configuration for a connection to the node holding want: the
// server must present exactly that key, and the Authorizer must still admit it.
func clientTLS(cert tls.Certificate, auth Authorizer, want ed25519.PublicKey, protos []string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ServerName:   serverName,
		NextProtos:   protos,
		// The chain is checked below, against the one key this link trusts; there is no CA.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			pub, err := peerKey(rawCerts)
			if err != nil {
				return err
			}
			if !pub.Equal(want) {
				return fmt.Errorf("peer is node %s, want %s", nodeID(pub), nodeID(want))
			}
			if !auth.AllowNode(pub) {
				return fmt.Errorf("%w: %s", ErrNotAuthorized, nodeID(pub))
			}
			return nil
		},
	}
}

// connPeerKey is the key a completed handshake authenticated.
func connPeerKey(st tls.ConnectionState) (ed25519.PublicKey, error) {
	if len(st.PeerCertificates) != 1 {
		return nil, errors.New("no peer certificate")
	}
	pub, ok := st.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("peer certificate key is not Ed25519")
	}
	return pub, nil
}
