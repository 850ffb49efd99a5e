package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"

	"parley/identity"
	"parley/media/transcribe"
	"parley/media/transcribe/agent"
)

// TranscriberConfig sets up a transcriber on another machine than its node (`parley
// transcriber run`).
type TranscriberConfig struct {
	NodeURL string // the node's public URL
	KeyFile string // the transcriber's key (NewTranscriberKey)
	// CAFile holds the PEM certificates to trust for the node's HTTPS: its own certificate
	// (a node that made its own keeps it as tls-cert.pem in its data directory) or the
	// organisation's CA. Empty: the system's roots.
	CAFile        string
	Name          string // for the node's logs
	Transcription transcribe.Config
	Language      string // of speakers who did not say which they speak
	OnLinked      func()
	Logger        *slog.Logger
}

// NewTranscriberKey makes a transcriber key at path (mode 0600, never replacing a file) and
// returns its public key as the node's config names it.
func NewTranscriberKey(path string) (string, error) {
	k, err := identity.GenerateNodeKey()
	if err != nil {
		return "", err
	}
	if err := k.Save(path); err != nil {
		return "", err
	}
	return TranscriberKeyText(k.PublicKey()), nil
}

// TranscriberPublicKey reads the key at path and returns its public key as the node's
// config names it.
func TranscriberPublicKey(path string) (string, error) {
	k, err := identity.LoadNodeKey(path)
	if err != nil {
		return "", err
	}
	return TranscriberKeyText(k.PublicKey()), nil
}

// RunTranscriber links to the node and transcribes the meetings it hands over, until ctx
// ends or the node refuses the key.
func RunTranscriber(ctx context.Context, cfg TranscriberConfig) error {
	u, err := url.Parse(cfg.NodeURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("node URL %q: want the node's https:// address (its public_url)", cfg.NodeURL)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("node URL %q: plain http only on loopback; the agent's keys and the transcripts need https", cfg.NodeURL)
	}
	k, err := identity.LoadNodeKey(cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("%w (make one with `parley transcriber init --key FILE`)", err)
	}
	var tlsCfg *tls.Config
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return fmt.Errorf("read --ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca %s holds no PEM certificate", cfg.CAFile)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	engine, err := transcribe.Open(cfg.Transcription)
	if err != nil {
		return fmt.Errorf("the speech engine: %w", err)
	}
	defer engine.Close()
	err = agent.Serve(ctx, agent.WorkerConfig{URL: cfg.NodeURL, Key: k.PrivateKey(), Name: cfg.Name, Engine: engine,
		Language: cfg.Language, TLSConfig: tlsCfg, OnLinked: cfg.OnLinked, Logger: cfg.Logger})
	if errors.Is(err, agent.ErrNotTrusted) {
		return fmt.Errorf("%w: its key is %s", err, TranscriberKeyText(k.PublicKey()))
	}
	return err
}
