package main

import (
	"fmt"
	"io"
	"net"

	"parley/node"
)

func runInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init", "init --data DIR --name NAME [--http ADDR] [--public-ip IP]... [--tls-cert FILE --tls-key FILE]\n"+
		"                   [--oidc-issuer URL --oidc-client-id ID [--oidc-client-secret-file FILE] [--oidc-acr-values ACR]]",
		"Prepares a data directory for a node: config.json, the node key and, when --http is not a\n"+
			"loopback address and no certificate is given, a self-signed TLS certificate whose\n"+
			"fingerprint it prints. It refuses to overwrite an existing configuration.\n\n"+
			"With --oidc-issuer, people sign in with the organisation's OpenID Connect provider\n"+
			"(ProConnect, Keycloak, …) and start their own meetings from the home page. The client\n"+
			"secret is read from --oidc-client-secret-file or, without it, from the environment\n"+
			"variable "+node.OIDCSecretEnv+" when the node starts; never give it on the command\n"+
			"line. init prints the redirect URI to register at the provider.",
		`parley init --data /var/lib/parley --name "Ministère X" --http 0.0.0.0:8443 --public-ip 203.0.113.7`, stderr)
	dir := fs.String("data", "", "data directory to create (required)")
	name := fs.String("name", "", "the node's display name (required)")
	org := fs.String("organisation", "", "who runs the node (default: the name)")
	httpAddr := fs.String("http", node.DefaultHTTPAddr, "host:port for HTTP(S); anything but loopback needs TLS")
	var publicIPs stringList
	fs.Var(&publicIPs, "public-ip", "public IP address of the node behind a 1:1 NAT (repeatable)")
	cert := fs.String("tls-cert", "", "TLS certificate file (PEM) from your own PKI")
	key := fs.String("tls-key", "", "TLS private key file (PEM) for --tls-cert")
	issuer := fs.String("oidc-issuer", "", "issuer URL of the OpenID Connect provider (https; http only on loopback)")
	clientID := fs.String("oidc-client-id", "", "the node's client ID at the provider (with --oidc-issuer)")
	secretFile := fs.String("oidc-client-secret-file", "", "file holding the client secret (mode 0600)")
	acr := fs.String("oidc-acr-values", "", `authentication level to ask for and require, e.g. "eidas1"`)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := requireFlag(fs, "data", *dir); err != nil {
		return err
	}
	if err := requireFlag(fs, "name", *name); err != nil {
		return err
	}
	if (*cert == "") != (*key == "") {
		return usagef("give --tls-cert and --tls-key together")
	}
	if _, _, err := net.SplitHostPort(*httpAddr); err != nil {
		return usagef("--http %q is not host:port (for example 0.0.0.0:8443)", *httpAddr)
	}
	for _, ip := range publicIPs {
		if net.ParseIP(ip) == nil {
			return usagef("--public-ip %q is not an IP address", ip)
		}
	}
	opts := node.InitOptions{Name: *name, Organisation: *org, HTTPAddr: *httpAddr,
		PublicIPs: publicIPs, TLSCert: *cert, TLSKey: *key}
	if *issuer != "" || *clientID != "" || *secretFile != "" || *acr != "" {
		if *issuer == "" || *clientID == "" {
			return usagef("give --oidc-issuer and --oidc-client-id together")
		}
		opts.OIDC = &node.OIDCConfig{Issuer: *issuer, ClientID: *clientID, ClientSecretFile: *secretFile, ACRValues: *acr}
	}
	res, err := node.Init(*dir, opts)
	if err != nil {
		return err
	}
	cfg := res.Config
	fmt.Fprintf(stdout, "Initialised node %q in %s (node id %s).\n", cfg.Name, *dir, res.NodeID)
	fmt.Fprintf(stdout, "  configuration: %s\n  HTTP:  %s (%s)\n  media: UDP %s\n", res.ConfigPath, cfg.HTTPAddr, scheme(cfg), cfg.MediaUDPAddr)
	if res.SelfSigned {
		fmt.Fprintf(stdout, "  TLS:   self-signed certificate %s\n  SHA-256 fingerprint: %s\n", res.CertPath, res.CertFingerprint)
		fmt.Fprintf(stdout, "Browsers will warn about this certificate; tell users to compare the fingerprint before accepting it,\n"+
			"or set tls_cert and tls_key in the configuration to a certificate from your own PKI.\n")
	}
	if res.RedirectURI != "" {
		fmt.Fprintf(stdout, "  sign-in: %s\n  Register this redirect URI at the provider: %s\n"+
			"  (if public_url is set in the configuration, it is public_url + /auth/callback)\n", cfg.OIDC.Issuer, res.RedirectURI)
	}
	fmt.Fprintf(stdout, "Start it with: parley serve --data %s\n", *dir)
	return nil
}

func scheme(cfg node.Config) string {
	if cfg.TLS() {
		return "https"
	}
	return "plain http, loopback only"
}
