package main

import (
	"fmt"
	"io"
	"net"

	"parley/node"
)

func runInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init", "init --data DIR --name NAME [--http ADDR] [--public-ip IP]... [--tls-cert FILE --tls-key FILE]",
		"Prepares a data directory for a node: config.json, the node key and, when --http is not a\n"+
			"loopback address and no certificate is given, a self-signed TLS certificate whose\n"+
			"fingerprint it prints. It refuses to overwrite an existing configuration.",
		`parley init --data /var/lib/parley --name "Ministère X" --http 0.0.0.0:8443 --public-ip 203.0.113.7`, stderr)
	dir := fs.String("data", "", "data directory to create (required)")
	name := fs.String("name", "", "the node's display name (required)")
	org := fs.String("organisation", "", "who runs the node (default: the name)")
	httpAddr := fs.String("http", node.DefaultHTTPAddr, "host:port for HTTP(S); anything but loopback needs TLS")
	var publicIPs stringList
	fs.Var(&publicIPs, "public-ip", "public IP address of the node behind a 1:1 NAT (repeatable)")
	cert := fs.String("tls-cert", "", "TLS certificate file (PEM) from your own PKI")
	key := fs.String("tls-key", "", "TLS private key file (PEM) for --tls-cert")
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
	res, err := node.Init(*dir, node.InitOptions{Name: *name, Organisation: *org, HTTPAddr: *httpAddr,
		PublicIPs: publicIPs, TLSCert: *cert, TLSKey: *key})
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
	fmt.Fprintf(stdout, "Start it with: parley serve --data %s\n", *dir)
	return nil
}

func scheme(cfg node.Config) string {
	if cfg.TLS() {
		return "https"
	}
	return "plain http, loopback only"
}
