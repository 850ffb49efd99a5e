package federation

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"parley/identity"
	"parley/mesh"
)

// Defaults for Config fields left at zero.
const (
	DefaultPrefix              = "fed/"
	DefaultAntiEntropyInterval = 2 * time.Second
	DefaultDirectoryInterval   = 10 * time.Second
	DefaultSyncTimeout         = 10 * time.Second
	DefaultLeaveLinger         = 2 * time.Second
	DefaultInviteTTL           = 24 * time.Hour
	MaxInviteTTL               = 30 * 24 * time.Hour
)

// Config configures a Federation. Host, Key, DB and Name are required; every other field's
// zero value is the documented default.
type Config struct {
	// Host is the node's mesh host, keyed by Key. The Federation uses it but does not own it:
	// close the Federation first, then the host.
	Host *mesh.Host
	// Key is the node key; records are signed with it.
	Key *identity.NodeKey
	// DB is the node's badger database, opened by the node; the Federation keeps everything
	// under Prefix and never closes DB.
	DB *badger.DB
	// Prefix is the key prefix of everything the Federation stores; "" means "fed/".
	Prefix string

	// Name and Organisation describe the node in its node record; Organisation "" means Name.
	Name, Organisation string
	// URL is the node's HTTP(S) base URL, where peers redeem invites (JoinPath); "" if none.
	URL string
	// TLSCertificate is the DER of the certificate served at URL, pinned by invites; nil for
	// plain HTTP on loopback.
	TLSCertificate []byte
	// CascadeAddr is the host:port of the node's media cascade, published in its node record.
	CascadeAddr string

	// AntiEntropyInterval is how often, while the node takes part in a room, it asks one peer
	// of the room for what it lacks; zero means 2 s.
	AntiEntropyInterval time.Duration
	// DirectoryInterval is how often it compares its directory with one peer's and fetches
	// the room records it lacks (it also does so with every peer that connects); zero means
	// 10 s.
	DirectoryInterval time.Duration
	// SyncTimeout bounds one catch-up exchange; zero means 10 s.
	SyncTimeout time.Duration
	// LeaveLinger is how long the node stays on a room's topic after its last participant
	// left, so that its empty record reaches the others by gossip; zero means 2 s.
	LeaveLinger time.Duration

	// ClearOwnParticipants empties, in New, this node's own state record of every room where
	// it still lists participants, before it serves catch-up or joins any topic: for a node
	// whose participants are connections to its process, such a record was left by a stop
	// that could not publish their leaving (a crash), and a peer catching up first would show
	// them again. The empty records reach peers by their catch-up.
	ClearOwnParticipants bool

	// Handlers receive events; nil fields are not called.
	Handlers Handlers
	// Registerer, if set, gets the federation's counters (see Stats).
	Registerer prometheus.Registerer
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
}

// Handlers are called on events. They may be called concurrently from the Federation's
// goroutines and from the methods that cause them (SetParticipants, Append, …), never with a
// lock held, so they may call back into the Federation; they should return quickly.
type Handlers struct {
	// RoomLearned: a room record was added to the directory or replaced by a newer one.
	RoomLearned func(r Room)
	// StateChanged: a node's state record of room changed (this node's own included), or a
	// removed peer's record was dropped. Read the new state with State.
	StateChanged func(room string)
	// EntryAppended: an entry was added to room's log (this node's own included). The
	// entries of one node in one room arrive in seq order, each once, with no gap: an entry
	// stored before an earlier one of its node waits for it. Entries of different nodes
	// interleave in any order (display order is CompareEntries). Calls are serialised; one
	// made by the goroutine of an Append may instead come from another goroutine's
	// delivery, just after Append returns. Entries the store held when the Federation
	// started are not delivered again: read them with History.
	EntryAppended func(e Entry)
	// CastReceived: another node cast to a room this node takes part in (Cast). Casts are
	// not kept and may be lost; each arrives at most once. Calls for one room are
	// serialised; keep them short (they hold up the room's gossip).
	CastReceived func(c Cast)
	// PeerConnection: a federated peer connected or disconnected.
	PeerConnection func(id peer.ID, connected bool)
	// PeerCaughtUp: catch-up with a federated peer ran out of work: what this node asked it
	// for has been applied (or an exchange failed and was logged). One follows every
	// PeerConnection(id, true) of a node that is not closing.
	PeerCaughtUp func(id peer.ID)
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Host == nil || cfg.Key == nil || cfg.DB == nil {
		return cfg, errors.New("federation: config needs Host, Key and DB")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Organisation == "" {
		cfg.Organisation = cfg.Name
	}
	if err := text("node name", cfg.Name, MaxNameLen, false); err != nil {
		return cfg, fmt.Errorf("federation: %w", err)
	}
	if err := text("organisation", cfg.Organisation, MaxOrgLen, false); err != nil {
		return cfg, fmt.Errorf("federation: %w", err)
	}
	if err := httpURL("URL", cfg.URL, true); err != nil {
		return cfg, fmt.Errorf("federation: %w", err)
	}
	if cfg.URL != "" {
		if err := checkTransport(cfg.URL, cfg.fingerprint()); err != nil {
			return cfg, fmt.Errorf("federation: URL %s: %w", cfg.URL, err)
		}
	}
	if cfg.AntiEntropyInterval <= 0 {
		cfg.AntiEntropyInterval = DefaultAntiEntropyInterval
	}
	if cfg.DirectoryInterval <= 0 {
		cfg.DirectoryInterval = DefaultDirectoryInterval
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	if cfg.LeaveLinger <= 0 {
		cfg.LeaveLinger = DefaultLeaveLinger
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// fingerprint is the SHA-256 of TLSCertificate, nil without one.
func (cfg Config) fingerprint() []byte {
	if len(cfg.TLSCertificate) == 0 {
		return nil
	}
	sum := sha256.Sum256(cfg.TLSCertificate)
	return sum[:]
}
