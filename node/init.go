package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"parley/identity"
)

// selfSignedValidity is how long the certificate Init makes stays valid.
const selfSignedValidity = 5 * 365 * 24 * time.Hour

// InitOptions are what `parley init` asks for. Empty fields mean the Config defaults.
type InitOptions struct {
	Name         string   // the node's display name; required
	Organisation string   // default: Name
	HTTPAddr     string   // default DefaultHTTPAddr
	PublicIPs    []string // advertised for media and put in the self-signed certificate
	TLSCert      string   // the organisation's certificate file (PEM); with TLSKey
	TLSKey       string
	// OIDC is the sign-in provider, if any; a relative ClientSecretFile is taken from the
	// current directory and stored absolute.
	OIDC *OIDCConfig
}

// InitResult says what Init wrote.
type InitResult struct {
	Config     Config // as written, with defaults applied and Dir set
	ConfigPath string
	NodeID     string // the node key's short ID
	// SelfSigned is true when Init made a certificate; CertFingerprint is then its SHA-256
	// fingerprint as browsers show it (AB:CD:…), for users to compare when they accept it.
	SelfSigned      bool
	CertPath        string
	CertFingerprint string
	// RedirectURI is, with OIDC, the URI to register at the provider.
	RedirectURI string
}

// Init prepares a node's data directory: creates it (mode 0700), writes config.json and the
// node key, and — when HTTPAddr is not loopback and no certificate is given — a self-signed
// ECDSA certificate for the HTTP host, the public IPs and localhost. It refuses to overwrite an
// existing configuration; an existing node key is kept.
func Init(dir string, opts InitOptions) (*InitResult, error) {
	if dir == "" {
		return nil, errors.New("init: no data directory given")
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(cfgPath); err == nil {
		return nil, fmt.Errorf("init: %s already exists; this directory already holds a node (edit the file, or choose another --data directory)", cfgPath)
	}
	cfg := Config{
		Name: strings.TrimSpace(opts.Name), Organisation: opts.Organisation,
		HTTPAddr: opts.HTTPAddr, PublicIPs: opts.PublicIPs,
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = DefaultHTTPAddr
	}
	if opts.TLSCert != "" || opts.TLSKey != "" {
		if opts.TLSCert == "" || opts.TLSKey == "" {
			return nil, errors.New("init: give both a TLS certificate and its key, or neither")
		}
		if _, err := tls.LoadX509KeyPair(opts.TLSCert, opts.TLSKey); err != nil {
			return nil, fmt.Errorf("init: the TLS certificate and key do not load: %w", err)
		}
		var err error
		if cfg.TLSCert, err = filepath.Abs(opts.TLSCert); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		if cfg.TLSKey, err = filepath.Abs(opts.TLSKey); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	if opts.OIDC != nil {
		o := *opts.OIDC
		if o.ClientSecretFile != "" {
			abs, err := filepath.Abs(o.ClientSecretFile)
			if err != nil {
				return nil, fmt.Errorf("init: %w", err)
			}
			o.ClientSecretFile = abs
		}
		cfg.OIDC = &o
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if cfg.OIDC != nil {
		if _, err := cfg.OIDC.secret(dir); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	host, port, _ := splitHostPort(cfg.HTTPAddr)
	cfg.MediaUDPAddr = defaultMediaUDPAddr(host, port)
	selfSigned := cfg.TLSCert == "" && !isLoopbackHost(host)
	if selfSigned {
		cfg.TLSCert, cfg.TLSKey = SelfCertFile, SelfKeyFile
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init: create data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init: make data directory owner-only: %w", err)
	}
	key, err := initNodeKey(filepath.Join(dir, NodeKeyFile))
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	res := &InitResult{ConfigPath: cfgPath, NodeID: key.ID(), SelfSigned: selfSigned}
	if selfSigned {
		res.CertPath = filepath.Join(dir, SelfCertFile)
		res.CertFingerprint, err = writeSelfSigned(res.CertPath, filepath.Join(dir, SelfKeyFile), cfg.Name, certHosts(host, cfg.PublicIPs))
		if err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("init: encode configuration: %w", err)
	}
	if err := writeNewFile(cfgPath, append(data, '\n')); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	cfg.Dir = dir
	if res.Config, err = cfg.withDefaults(); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if cfg.OIDC != nil {
		scheme := "http"
		if res.Config.TLS() {
			scheme = "https"
		}
		res.RedirectURI = derivePublicURL(res.Config, scheme, strconv.Itoa(port)) + "/auth/callback"
	}
	return res, nil
}

// initNodeKey keeps an existing node key (a node's identity must not change by accident) or
// makes a new one.
func initNodeKey(path string) (*identity.NodeKey, error) {
	if _, err := os.Stat(path); err == nil {
		return identity.LoadNodeKey(path)
	}
	key, err := identity.GenerateNodeKey()
	if err != nil {
		return nil, err
	}
	return key, key.Save(path)
}

// certHosts lists the names a self-signed certificate covers: the HTTP host (unless it is
// unspecified), the public IPs, this machine's addresses when bound to all of them, and
// localhost.
func certHosts(httpHost string, publicIPs []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	add := func(h string) {
		for _, x := range hosts {
			if strings.EqualFold(x, h) {
				return
			}
		}
		hosts = append(hosts, h)
	}
	ip := net.ParseIP(httpHost)
	switch {
	case httpHost == "" || (ip != nil && ip.IsUnspecified()):
		for _, a := range interfaceIPs() {
			add(a)
		}
		if h, err := os.Hostname(); err == nil && h != "" {
			add(h)
		}
	default:
		add(httpHost)
	}
	for _, p := range publicIPs {
		add(p)
	}
	return hosts
}

// interfaceIPs are this machine's non-loopback unicast addresses, IPv4 first.
func interfaceIPs() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || !n.IP.IsGlobalUnicast() {
			continue
		}
		if n.IP.To4() != nil {
			v4 = append(v4, n.IP.String())
		} else {
			v6 = append(v6, n.IP.String())
		}
	}
	return append(v4, v6...)
}

// writeSelfSigned makes an ECDSA P-256 certificate for hosts and returns its SHA-256
// fingerprint.
func writeSelfSigned(certPath, keyPath, name string, hosts []string) (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[len(hosts)-1], Organization: []string{name}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return "", fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encode TLS key: %w", err)
	}
	if err := writeNewFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return "", err
	}
	if err := writeNewFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return "", err
	}
	return Fingerprint(der), nil
}

// Fingerprint is the SHA-256 of a DER certificate as browsers show it: AB:CD:….
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// writeNewFile creates path (mode 0600) with data, refusing to replace an existing file.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
