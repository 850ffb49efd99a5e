package node

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A node with certificate files serves HTTPS only, and its URL says so.
func TestTLSNode(t *testing.T) {
	dir := t.TempDir()
	certs := t.TempDir()
	cert, key := filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")
	fp, err := writeSelfSigned(cert, key, "test", certHosts("127.0.0.1", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, InitOptions{Name: "tls node", HTTPAddr: "127.0.0.1:0", TLSCert: cert, TLSKey: key}); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, dir)
	if !strings.HasPrefix(n.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s, want https", n.URL())
	}
	pemData, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemData)
	if Fingerprint(block.Bytes) != fp {
		t.Errorf("fingerprint %s does not match the certificate", fp)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(n.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz over TLS: %d", resp.StatusCode)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security over TLS: %q", hsts)
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + n.HTTPAddr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served by a TLS node")
		}
	}
}
