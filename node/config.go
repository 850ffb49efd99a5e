package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/multiformats/go-multiaddr"

	"parley/media/transcribe"
)

// Default values of Config fields left empty.
const (
	DefaultHTTPAddr               = "127.0.0.1:8443"
	DefaultMediaUDPPort           = 7882
	DefaultMaxParticipantsPerRoom = 100
	// DefaultP2PPort is federation's libp2p port (UDP for QUIC and TCP).
	DefaultP2PPort = 7883
	// DefaultCascadePort is the UDP port of the media cascade between nodes.
	DefaultCascadePort = 7884
	// DefaultMetricsPort is the port of the private metrics listener, on loopback.
	DefaultMetricsPort = 7885
	// MetricsOff as metrics_addr serves no metrics.
	MetricsOff = "off"
	// MaxParticipantsLimit is the largest room a node allows: every key envelope names every
	// participant, and one envelope must fit a signalling message.
	MaxParticipantsLimit = 1000
	DefaultLogLevel      = "info"
	// DefaultMaxLobby is max_lobby's default; MaxLobbyLimit its largest value.
	DefaultMaxLobby = 100
	MaxLobbyLimit   = 1000
	// DefaultLobbyWait is lobby_wait's default.
	DefaultLobbyWait = 15 * time.Minute
	// DefaultMediaDeadline is media_deadline's default.
	DefaultMediaDeadline = 30 * time.Second
	// DefaultMaxSessionsPerAddress is max_sessions_per_address's default.
	DefaultMaxSessionsPerAddress = 100

	// MediaTCPOff as media_tcp_addr turns ICE-TCP off.
	MediaTCPOff = "off"
)

// File names inside a node's data directory.
const (
	ConfigFile    = "config.json" // the node's Config, written by Init
	NodeKeyFile   = "node.key"    // the node's Ed25519 key (mode 0600)
	StoreDir      = "store"       // the badger database
	AdminSocket   = "admin.sock"  // the admin Unix socket (mode 0600) while the node runs
	SelfCertFile  = "tls-cert.pem"
	SelfKeyFile   = "tls-key.pem"
	maxConfigSize = 1 << 20
)

// Config is a node's configuration, stored as JSON in DIR/config.json (written by Init, edited
// by the operator). Every field's zero value means its documented default.
//
//	{
//	  "name": "Ministère X",
//	  "organisation": "Ministère X",
//	  "http_addr": "0.0.0.0:8443",
//	  "public_url": "https://meet.example.org:8443",
//	  "media_udp_addr": "0.0.0.0:7882",
//	  "media_tcp_addr": "0.0.0.0:7882",
//	  "public_ips": ["203.0.113.7"],
//	  "tls_cert": "tls-cert.pem",
//	  "tls_key": "tls-key.pem",
//	  "allowed_origins": ["https://intranet.example.org"],
//	  "max_participants_per_room": 100,
//	  "log_level": "info",
//	  "p2p_addrs": ["/ip4/0.0.0.0/udp/7883/quic-v1", "/ip4/0.0.0.0/tcp/7883"],
//	  "cascade_addr": "0.0.0.0:7884",
//	  "mdns": false
//	}
type Config struct {
	// Dir is the data directory: store, node key, admin socket. Set by LoadConfig; not stored.
	Dir string `json:"-"`

	// Name is the node's display name, shown on its landing page. Required.
	Name string `json:"name"`
	// Organisation is who runs the node. Default: Name.
	Organisation string `json:"organisation,omitempty"`
	// DefaultLanguage is the web client's language for browsers that ask for none it has:
	// "fr" or "en". A person's own choice, and their browser's languages, come first.
	// Default: "en".
	DefaultLanguage string `json:"default_language,omitempty"`
	// HTTPAddr is the host:port the web client, API and signalling listen on.
	// Default 127.0.0.1:8443. Plain HTTP is served only when the host is a loopback address;
	// any other address requires TLSCert and TLSKey.
	HTTPAddr string `json:"http_addr,omitempty"`
	// PublicURL is the base URL room links use (scheme://host[:port][/prefix]); its origin is
	// accepted by signalling. Default: derived from the bound HTTP address — https when TLS is
	// on — with the host of HTTPAddr, or if that is unspecified (0.0.0.0, ::) the first of
	// PublicIPs, else the first non-loopback interface address.
	PublicURL string `json:"public_url,omitempty"`
	// MediaUDPAddr is the host:port of the single UDP socket that carries all WebRTC media.
	// Default: the host of HTTPAddr, port 7882 (port 0 when HTTPAddr's port is 0).
	MediaUDPAddr string `json:"media_udp_addr,omitempty"`
	// MediaTCPAddr is the host:port accepting ICE-TCP from clients whose network blocks UDP,
	// or "off". Default: the same host:port as MediaUDPAddr, over TCP.
	MediaTCPAddr string `json:"media_tcp_addr,omitempty"`
	// PublicIPs are advertised as media candidates instead of local addresses, for a node
	// behind a 1:1 NAT. Default: none.
	PublicIPs []string `json:"public_ips,omitempty"`
	// TLSCert and TLSKey are PEM files (relative paths are inside the data directory). Both or
	// neither; when set, HTTP is served over TLS.
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
	// AllowedOrigins are extra origins (scheme://host[:port]) whose pages may open the
	// signalling WebSocket, besides the node's own. Default: none.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// MaxParticipantsPerRoom bounds each room: everyone admitted, on every node (this node
	// refuses its own joiners beyond it). Default 100, at most 1000.
	MaxParticipantsPerRoom int `json:"max_participants_per_room,omitempty"`
	// MaxLobby bounds the people waiting in one room's lobby on this node. Default 100.
	MaxLobby int `json:"max_lobby,omitempty"`
	// LobbyWait is how long someone may wait in a lobby before being sent away ("15m").
	// Default 15 minutes.
	LobbyWait Duration `json:"lobby_wait,omitempty"`
	// MediaDeadline is how long an admitted participant's audio and video may take to
	// connect, once set up, before the participant is sent away ("30s"); and how long one
	// with nothing to connect keeps its place in a full room. Default 30 seconds.
	MediaDeadline Duration `json:"media_deadline,omitempty"`
	// MaxSessionsPerAddress bounds the signalling connections open from one IP address
	// (a building behind one NAT shares one). Default 100.
	MaxSessionsPerAddress int `json:"max_sessions_per_address,omitempty"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `json:"log_level,omitempty"`
	// P2PAddrs are the libp2p listen multiaddrs of federation. Default: QUIC and TCP on the
	// host of HTTPAddr, port 7883 (port 0 when HTTPAddr's port is 0).
	P2PAddrs []string `json:"p2p_addrs,omitempty"`
	// CascadeAddr is the UDP host:port of the media cascade, which carries meetings' media
	// between this node and the other nodes of a room (QUIC). Its address is published in the
	// node's federation record (with an unspecified host, the host of the public URL).
	// Default: the host of HTTPAddr, port 7884 (port 0 when HTTPAddr's port is 0).
	CascadeAddr string `json:"cascade_addr,omitempty"`
	// MetricsAddr is the private TCP host:port serving /metrics (Prometheus) and /healthz,
	// never the public HTTP port: metrics name peers and show who meets. "off" serves none.
	// Default: 127.0.0.1, port 7885 (port 0 when HTTPAddr's port is 0).
	MetricsAddr string `json:"metrics_addr,omitempty"`
	// MetricsPprof also serves Go's profiler (/debug/pprof/) on the metrics listener, to
	// profile a node under load (`parley bench sfu --profile`). Default: off.
	MetricsPprof bool `json:"metrics_pprof,omitempty"`
	// MDNS finds federated peers on the local network by mDNS (for islands). Default: off.
	// It never makes a peer trusted: only invites do.
	MDNS bool `json:"mdns,omitempty"`
	// OIDC is the organisation's OpenID Connect provider, for signing in (see OIDCConfig).
	// Default: none; nobody signs in, and meetings work with typed names.
	OIDC *OIDCConfig `json:"oidc,omitempty"`
	// Transcription is the speech engine for transcripts and captions, and for `parley
	// transcribe`: {"engine": "pocketsphinx"} (embedded, English, in binaries built with
	// -tags pocketsphinx,libopus) or {"engine": "openai", "url": "http://gpu.example:8000",
	// "model": "large-v3", "api_key_file": "…"} (an OpenAI-compatible
	// /v1/audio/transcriptions server on the organisation's network). Default: the
	// embedded engine where built in, else none.
	Transcription *transcribe.Config `json:"transcription,omitempty"`
	// Summary is an OpenAI-compatible /v1/chat/completions server for transcript summaries
	// ({"url", "model", "api_key_file"}). Default: none; summaries are made on this machine
	// by picking the transcript's own sentences, and nothing is sent anywhere.
	Summary *transcribe.SummaryConfig `json:"summary,omitempty"`
	// Transcribers are the transcribers on other machines of the organisation (a GPU box
	// running `parley transcriber`) this node trusts, each by its public key:
	// [{"name": "gpu-1", "key": "<what parley transcriber init printed>"}]. While one is
	// linked, meetings are transcribed there rather than on this machine.
	Transcribers []TrustedTranscriber `json:"transcribers,omitempty"`

	// UnreachableGrace is how long a federated node may be out of reach (no connection to
	// it, nothing new from it) before its participants stop being shown here: clients get
	// participant_left with reason "unreachable", and participant_joined when the node is
	// back. Default DefaultUnreachableGrace. Set in code; not stored.
	UnreachableGrace time.Duration `json:"-"`
	// HTTPHeaderTimeout bounds reading a request's line and headers, HTTPRequestTimeout
	// reading its body and writing its answer (a signalling WebSocket is bounded by its
	// session). Defaults 10 s and 15 s. Set in code (tests shorten them); not stored.
	HTTPHeaderTimeout  time.Duration `json:"-"`
	HTTPRequestTimeout time.Duration `json:"-"`
	// Repair starts the node on a damaged store: the damaged files are moved into
	// DIR/damaged/<time>/, what still reads is kept and peers are asked for every room
	// again. Without it a damaged store is refused. Set by `parley serve --repair`.
	Repair bool `json:"-"`
	// RepairWatch is how long after a repair the node waits for its peers before it reports
	// what it fetched again. Default DefaultRepairWatch. Set in code; not stored.
	RepairWatch time.Duration `json:"-"`
}

// LoadConfig reads DIR/config.json strictly: unknown fields, trailing data and invalid values
// are errors naming the field. The returned Config has Dir set and defaults applied.
func LoadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, ConfigFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf("no node configuration at %s: create one with `parley init --data %s --name NAME`", path, dir)
	}
	if err != nil {
		return Config{}, fmt.Errorf("read node configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("read node configuration %s: %w", path, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("node configuration %s: %w", path, err)
	}
	cfg.Dir = dir
	return cfg.withDefaults()
}

// ParseConfig decodes and validates a config file's contents (without Dir or defaults).
func ParseConfig(data []byte) (Config, error) {
	if len(data) > maxConfigSize {
		return Config{}, fmt.Errorf("file is over %d bytes", maxConfigSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Config{}, fmt.Errorf("field %q: want a %s, got a JSON %s", te.Field, te.Type, te.Value)
		}
		// encoding/json says `json: unknown field "x"` for unknown fields.
		return Config{}, fmt.Errorf("%w (see the configuration reference for valid fields)", err)
	}
	if dec.More() {
		return Config{}, errors.New("trailing data after the JSON object")
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// validate checks every field that is set. It does not apply defaults.
func (c Config) validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New(`field "name": required (the node's display name)`)
	}
	if len(c.Name) > 200 || len(c.Organisation) > 200 {
		return errors.New(`fields "name" and "organisation": at most 200 bytes`)
	}
	if strings.IndexFunc(c.Name+c.Organisation, unicode.IsControl) >= 0 || !utf8.ValidString(c.Name+c.Organisation) {
		return errors.New(`fields "name" and "organisation": no control characters, valid UTF-8 (they appear in participants' certificates)`)
	}
	switch c.DefaultLanguage {
	case "", "fr", "en":
	default:
		return fmt.Errorf(`field "default_language": %q is not one the web client has; say "fr" or "en"`, c.DefaultLanguage)
	}
	if t := c.Transcription; t != nil {
		if t.Engine != "" && !slices.Contains(transcribe.Engines(), t.Engine) {
			return fmt.Errorf(`field "transcription.engine": %q is not built into this binary, which has %s`, t.Engine, strings.Join(transcribe.Engines(), ", "))
		}
		if err := httpURL(t.URL); err != nil {
			return fmt.Errorf(`field "transcription.url": %w`, err)
		}
		if t.Engine == "openai" && t.URL == "" {
			return errors.New(`field "transcription.url": required with the openai engine (the server that serves /v1/audio/transcriptions)`)
		}
	}
	seen := map[string]bool{}
	for i, tr := range c.Transcribers {
		k, err := tr.publicKey()
		if err != nil {
			return fmt.Errorf(`field "transcribers[%d].key": %w`, i, err)
		}
		if seen[string(k)] {
			return fmt.Errorf(`field "transcribers[%d].key": listed twice`, i)
		}
		seen[string(k)] = true
		if len(tr.Name) > 64 || strings.IndexFunc(tr.Name, unicode.IsControl) >= 0 || !utf8.ValidString(tr.Name) {
			return fmt.Errorf(`field "transcribers[%d].name": at most 64 bytes of text`, i)
		}
	}
	if c.Summary != nil {
		if err := httpURL(c.Summary.URL); err != nil {
			return fmt.Errorf(`field "summary.url": %w`, err)
		}
	}
	if c.HTTPAddr != "" {
		if _, _, err := splitHostPort(c.HTTPAddr); err != nil {
			return fmt.Errorf(`field "http_addr": %w`, err)
		}
	}
	for _, f := range []struct{ name, v string }{{"media_udp_addr", c.MediaUDPAddr}, {"media_tcp_addr", c.MediaTCPAddr},
		{"cascade_addr", c.CascadeAddr}, {"metrics_addr", c.MetricsAddr}} {
		if f.v == "" || (f.name == "media_tcp_addr" && f.v == MediaTCPOff) || (f.name == "metrics_addr" && f.v == MetricsOff) {
			continue
		}
		if _, _, err := splitHostPort(f.v); err != nil {
			return fmt.Errorf("field %q: %w", f.name, err)
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf(`field "public_url": %q is not an http(s)://host[:port][/path] URL`, c.PublicURL)
		}
	}
	for _, ip := range c.PublicIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf(`field "public_ips": %q is not an IP address`, ip)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New(`fields "tls_cert" and "tls_key": give both or neither`)
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if _, nerr := normalOrigin(o); err != nil || nerr != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf(`field "allowed_origins": %q is not an origin (scheme://host[:port], no path)`, o)
		}
	}
	if len(c.P2PAddrs) > 16 {
		return errors.New(`field "p2p_addrs": at most 16 addresses`)
	}
	for _, a := range c.P2PAddrs {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			return fmt.Errorf(`field "p2p_addrs": %q is not a multiaddr such as /ip4/0.0.0.0/udp/7883/quic-v1: %v`, a, err)
		}
	}
	// A key envelope names every participant; age and signalling bound it at ~1000.
	if c.MaxParticipantsPerRoom < 0 || c.MaxParticipantsPerRoom > MaxParticipantsLimit {
		return fmt.Errorf(`field "max_participants_per_room": %d is out of range 0..%d (0 means %d)`, c.MaxParticipantsPerRoom, MaxParticipantsLimit, DefaultMaxParticipantsPerRoom)
	}
	if c.MaxLobby < 0 || c.MaxLobby > MaxLobbyLimit {
		return fmt.Errorf(`field "max_lobby": %d is out of range 0..%d (0 means %d)`, c.MaxLobby, MaxLobbyLimit, DefaultMaxLobby)
	}
	if c.LobbyWait < 0 {
		return errors.New(`field "lobby_wait": must not be negative`)
	}
	if c.MediaDeadline < 0 {
		return errors.New(`field "media_deadline": must not be negative`)
	}
	if c.MaxSessionsPerAddress < 0 {
		return fmt.Errorf(`field "max_sessions_per_address": %d is negative (0 means %d)`, c.MaxSessionsPerAddress, DefaultMaxSessionsPerAddress)
	}
	if c.LogLevel != "" {
		if _, err := ParseLogLevel(c.LogLevel); err != nil {
			return fmt.Errorf(`field "log_level": %w`, err)
		}
	}
	if c.OIDC != nil {
		return c.OIDC.validate()
	}
	return nil
}

// withDefaults validates c and fills in every default. It also enforces the TLS rule: plain
// HTTP only on a loopback address.
func (c Config) withDefaults() (Config, error) {
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	if c.Organisation == "" {
		c.Organisation = c.Name
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	host, port, _ := splitHostPort(c.HTTPAddr)
	if c.MediaUDPAddr == "" {
		c.MediaUDPAddr = defaultMediaUDPAddr(host, port)
	}
	if c.MediaTCPAddr == "" {
		c.MediaTCPAddr = c.MediaUDPAddr
	}
	if c.MaxParticipantsPerRoom == 0 {
		c.MaxParticipantsPerRoom = DefaultMaxParticipantsPerRoom
	}
	if c.MaxLobby == 0 {
		c.MaxLobby = DefaultMaxLobby
	}
	if c.LobbyWait == 0 {
		c.LobbyWait = Duration(DefaultLobbyWait)
	}
	if c.MediaDeadline == 0 {
		c.MediaDeadline = Duration(DefaultMediaDeadline)
	}
	if c.MaxSessionsPerAddress == 0 {
		c.MaxSessionsPerAddress = DefaultMaxSessionsPerAddress
	}
	if len(c.P2PAddrs) == 0 {
		c.P2PAddrs = defaultP2PAddrs(host, port)
	}
	if c.CascadeAddr == "" {
		c.CascadeAddr = defaultCascadeAddr(host, port)
	}
	if c.MetricsAddr == "" {
		p := DefaultMetricsPort
		if port == 0 {
			p = 0
		}
		c.MetricsAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.UnreachableGrace <= 0 {
		c.UnreachableGrace = DefaultUnreachableGrace
	}
	if c.HTTPHeaderTimeout <= 0 {
		c.HTTPHeaderTimeout = headerTimeout
	}
	if c.HTTPRequestTimeout <= 0 {
		c.HTTPRequestTimeout = requestTimeout
	}
	if c.RepairWatch <= 0 {
		c.RepairWatch = DefaultRepairWatch
	}
	if c.TLSCert == "" && !isLoopbackHost(host) {
		return Config{}, fmt.Errorf(`field "http_addr": %s is not a loopback address, so the node must serve HTTPS (browsers allow camera and microphone only in a secure context): set "tls_cert" and "tls_key", or re-run `+"`parley init`"+` which makes a self-signed certificate`, c.HTTPAddr)
	}
	return c, nil
}

// defaultMediaUDPAddr is the media address used when none is configured: the HTTP host, port
// DefaultMediaUDPPort, or port 0 if the HTTP port is 0 (tests and demos).
func defaultMediaUDPAddr(host string, httpPort int) string {
	p := DefaultMediaUDPPort
	if httpPort == 0 {
		p = 0
	}
	return net.JoinHostPort(host, strconv.Itoa(p))
}

// defaultCascadeAddr is the cascade's UDP address when none is configured: the HTTP host,
// port DefaultCascadePort, or port 0 if the HTTP port is 0.
func defaultCascadeAddr(host string, httpPort int) string {
	p := DefaultCascadePort
	if httpPort == 0 {
		p = 0
	}
	return net.JoinHostPort(host, strconv.Itoa(p))
}

// defaultP2PAddrs are federation's listen addresses when none are configured: QUIC and TCP
// on the HTTP host, port DefaultP2PPort, or port 0 if the HTTP port is 0.
func defaultP2PAddrs(host string, httpPort int) []string {
	p := DefaultP2PPort
	if httpPort == 0 {
		p = 0
	}
	ip := "/ip4/" + host
	if a := net.ParseIP(host); a != nil && a.To4() == nil {
		ip = "/ip6/" + host
	} else if a == nil {
		ip = "/dns/" + host
	}
	return []string{fmt.Sprintf("%s/udp/%d/quic-v1", ip, p), fmt.Sprintf("%s/tcp/%d", ip, p)}
}

// TLS reports whether the node serves HTTPS.
func (c Config) TLS() bool { return c.TLSCert != "" }

// path resolves a file name from the config against the data directory.
func (c Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// ParseLogLevel maps debug, info, warn or error to a slog level.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// splitHostPort parses host:port with a numeric port; the host may be empty (all addresses).
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, p)
	}
	return host, port, nil
}

// isLoopbackHost reports whether host is localhost or a loopback IP. An empty host means
// every interface, which is not loopback.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// normalOrigin checks an origin (scheme://host[:port]) and returns it as browsers send it:
// lowercase, without a default port. A URL's path is ignored.
func normalOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%q is not an origin (scheme://host[:port])", o)
	}
	host := strings.ToLower(u.Host)
	if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
		host = strings.TrimSuffix(host, ":"+u.Port())
	}
	return u.Scheme + "://" + host, nil
}

// Duration is a time.Duration spelled in JSON as Go spells it ("90s", "15m", "1h30m").
type Duration time.Duration

// MarshalJSON spells d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New(`a duration is a string such as "30s" or "15m"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"30s\" or \"15m\"", s)
	}
	*d = Duration(v)
	return nil
}

// httpURL checks an optional http or https URL.
func httpURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http or https URL", s)
	}
	return nil
}
