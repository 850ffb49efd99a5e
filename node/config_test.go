package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseConfigErrorsNameTheField(t *testing.T) {
	cases := []struct{ json, want string }{
		{`{"name":"x","bogus":1}`, `unknown field "bogus"`},
		{`{"name":""}`, `"name": required`},
		{`{"name":"x","http_addr":"nope"}`, `"http_addr"`},
		{`{"name":"x","http_addr":"127.0.0.1:99999"}`, `"http_addr"`},
		{`{"name":"x","media_udp_addr":"x"}`, `"media_udp_addr"`},
		{`{"name":"x","public_ips":["1.2.3"]}`, `"public_ips"`},
		{`{"name":"x","tls_cert":"a.pem"}`, `"tls_cert" and "tls_key"`},
		{`{"name":"x","allowed_origins":["https://a.example/path"]}`, `"allowed_origins"`},
		{`{"name":"x","max_participants_per_room":-1}`, `"max_participants_per_room"`},
		{`{"name":"x","max_participants_per_room":"ten"}`, `"max_participants_per_room"`},
		{`{"name":"x","log_level":"loud"}`, `"log_level"`},
		{`{"name":"x","public_url":"ftp://x"}`, `"public_url"`},
		{`{"name":"x"} {}`, `trailing data`},
		{`{"name":"x","transcribers":[{"name":"gpu","key":"short"}]}`, `"transcribers[0].key"`},
		{`{"name":"x","transcribers":[{"key":"qZWzMmsARvu3oaN6NHy_hfDulcUfOipmYQGjqeMUCIg"},{"key":"qZWzMmsARvu3oaN6NHy_hfDulcUfOipmYQGjqeMUCIg"}]}`, `"transcribers[1].key": listed twice`},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one mentioning %s", c.json, err, c.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"name":"Ministère X"}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != DefaultHTTPAddr || cfg.MediaUDPAddr != "127.0.0.1:7882" || cfg.MediaTCPAddr != "127.0.0.1:7882" ||
		cfg.MaxParticipantsPerRoom != DefaultMaxParticipantsPerRoom || cfg.LogLevel != "info" ||
		cfg.Organisation != "Ministère X" || cfg.TLS() {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg = Config{Name: "x", HTTPAddr: "127.0.0.1:0"}
	if cfg, _ = cfg.withDefaults(); cfg.MediaUDPAddr != "127.0.0.1:0" {
		t.Errorf("port-0 HTTP gives media %q, want port 0", cfg.MediaUDPAddr)
	}
	cfg = Config{Name: "x", MediaTCPAddr: MediaTCPOff}
	if cfg, err = cfg.withDefaults(); err != nil || cfg.MediaTCPAddr != MediaTCPOff {
		t.Errorf("media_tcp_addr off: %q, %v", cfg.MediaTCPAddr, err)
	}
}

func TestConfigRequiresTLSOffLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8443", ":8443", "192.0.2.1:8443", "[::]:8443"} {
		_, err := Config{Name: "x", HTTPAddr: addr}.withDefaults()
		if err == nil || !strings.Contains(err.Error(), "tls_cert") {
			t.Errorf("%s without TLS: err %v, want a refusal naming tls_cert", addr, err)
		}
		if _, err := (Config{Name: "x", HTTPAddr: addr, TLSCert: "c", TLSKey: "k"}).withDefaults(); err != nil {
			t.Errorf("%s with TLS: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:8443", "localhost:1", "[::1]:8443"} {
		if _, err := (Config{Name: "x", HTTPAddr: addr}).withDefaults(); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

func TestInitSelfSignedAndRefusesOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	res, err := Init(dir, InitOptions{Name: "Ministère X", HTTPAddr: "0.0.0.0:8443", PublicIPs: []string{"203.0.113.7"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.SelfSigned || len(res.CertFingerprint) != 32*3-1 {
		t.Fatalf("init result %+v, want a self-signed certificate and its fingerprint", res)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data directory mode %v, %v; want 0700", st.Mode(), err)
	}
	for _, f := range []string{ConfigFile, NodeKeyFile, SelfKeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, st.Mode(), err)
		}
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TLS() || cfg.MediaUDPAddr != "0.0.0.0:7882" || cfg.PublicIPs[0] != "203.0.113.7" {
		t.Errorf("loaded %+v", cfg)
	}
	if _, err := Init(dir, InitOptions{Name: "again"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second init: %v, want a refusal", err)
	}
}

func TestLoadConfigMissing(t *testing.T) {
	_, err := LoadConfig(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "parley init") {
		t.Errorf("err %v, want advice to run parley init", err)
	}
}

func TestOwnOrigins(t *testing.T) {
	cfg := Config{Name: "x", HTTPAddr: "127.0.0.1:0", AllowedOrigins: []string{"https://Intra.Example:443"}}
	o := ownOrigins(cfg, "http://127.0.0.1:4000", "http", "4000")
	for _, want := range []string{"http://127.0.0.1:4000", "http://localhost:4000", "https://intra.example"} {
		if _, ok := o[want]; !ok {
			t.Errorf("origins %v lack %s", o, want)
		}
	}
	if _, ok := o["http://evil.example:4000"]; ok {
		t.Error("foreign origin allowed")
	}
}
