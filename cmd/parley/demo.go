package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"parley/node"
	"parley/node/auth"
	"parley/node/auth/testprovider"
)

const demoTitle = "Demo meeting"

// demoNodes are the demo's nodes: sub-directory and name.
var demoNodes = [...]struct{ dir, name string }{
	{"a", "Ministère A"},
	{"b", "Ministère B"},
	{"c", "Défense"},
}

// demoWait bounds federating the demo nodes and spreading the room to them.
const demoWait = 20 * time.Second

func runDemo(args []string, stdout, stderr io.Writer) error {
	fset := newFlags("demo", "demo [--http 127.0.0.1:0] [--data DIR]",
		"Starts three federated nodes on this machine, in this process — \"Ministère A\",\n"+
			"\"Ministère B\" and \"Défense\" — with one room \""+demoTitle+"\" owned by the first, and\n"+
			"prints the room's link on each node; open them in separate browser windows, one\n"+
			"participant per organisation's node. Runs until Ctrl-C. Without --data the nodes live\n"+
			"in a temporary directory that is removed at exit; with --data they are kept (and\n"+
			"reused) in DIR/a, DIR/b and DIR/c.",
		"parley demo --http 127.0.0.1:8443", stderr)
	httpAddr := fset.String("http", "127.0.0.1:0", "host:port for the first node's HTTP; the others take the next ports (port 0: free ports)")
	dir := fset.String("data", "", "data directory to keep the demo nodes in (default: a temporary one)")
	verbose := fset.Bool("v", false, "log at info level (default: warnings only)")
	noSignIn := fset.Bool("no-sign-in", false, "run without the demo's test OpenID provider (typed names only)")
	if err := parse(fset, args); err != nil {
		return err
	}
	host, port, err := splitDemoAddr(*httpAddr)
	if err != nil {
		return usagef("--http %q: %v", *httpAddr, err)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// The test provider's library logs through the default logger: give it the demo's.
	slog.SetDefault(log)
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "parley-demo-")
		if err != nil {
			return fmt.Errorf("temporary data directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return demo(ctx, demoOptions{Dir: *dir, Host: host, Port: port, Log: log, Out: stdout, SignIn: !*noSignIn})
}

// demoOptions configures demo.
type demoOptions struct {
	Dir  string // the nodes' data directories are Dir/a, Dir/b and Dir/c
	Host string // HTTP host of every node
	Port int    // HTTP port of the first node, the next ones for the others; 0: free ports
	Log  *slog.Logger
	Out  io.Writer // the room links and instructions
	// SignIn starts the demo's test OpenID provider, with demoAccounts, for every node.
	SignIn bool
	issuer string // the test provider's, once started
}

// demoAccounts are the demo provider's accounts (password: the user name, reversed).
var demoAccounts = []testprovider.Account{
	{Username: "camille", Password: "ellimac", GivenName: "Camille", Family: "Martin", Email: "camille.martin@ministere-a.example"},
	{Username: "dominique", Password: "euqinimod", GivenName: "Dominique", Family: "Bernard", Email: "dominique.bernard@ministere-b.example"},
	{Username: "alex", Password: "xela", GivenName: "Alex", Family: "Petit", Email: "alex.petit@defense.example"},
}

// splitDemoAddr splits host:port, checking the port.
func splitDemoAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, errors.New("not host:port (for example 127.0.0.1:8443)")
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535-len(demoNodes)+1 {
		return "", 0, fmt.Errorf("port %q: want 0 to %d", p, 65535-len(demoNodes)+1)
	}
	return host, port, nil
}

// demo starts the three demo nodes, federates them, puts the demo room on the first and
// waits until the others' directories hold it, prints the room's link on each node, and runs
// until ctx ends; then it closes the nodes.
func demo(ctx context.Context, o demoOptions) (err error) {
	start := time.Now()
	var idp *testprovider.Provider
	if o.SignIn {
		if idp, err = testprovider.Start(nil, demoAccounts); err != nil {
			return fmt.Errorf("start the demo's test sign-in provider: %w", err)
		}
		defer func() { err = errors.Join(err, idp.Close()) }()
		o.issuer = idp.Issuer
	}
	nodes, err := startDemoNodes(o)
	defer func() { err = errors.Join(err, closeAll(nodes)) }()
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	if err := federateDemo(wctx, nodes); err != nil {
		return err
	}
	if err := waitConnected(wctx, nodes); err != nil {
		return err
	}
	room, err := demoRoom(nodes[0])
	if err != nil {
		return err
	}
	for _, n := range nodes[1:] {
		if err := n.Federation().WaitRoom(wctx, room.ID); err != nil {
			return fmt.Errorf("the room did not reach %s: %w", n.Config().Name, err)
		}
	}
	cancel()
	if idp != nil {
		for i, n := range nodes {
			idp.Register(testprovider.Client{ID: demoClientID(i), Secret: demoClientSecret, RedirectURIs: []string{n.URL() + auth.CallbackPath}})
		}
	}
	o.Log.Info("demo ready", "took", time.Since(start).Round(time.Millisecond))

	fmt.Fprintf(o.Out, "Three federated Parley nodes are running. The room %q is on all of them:\n\n", room.Title)
	for _, n := range nodes {
		fmt.Fprintf(o.Out, "  %-12s %s\n", n.Config().Name, n.RoomURLOf(room.ID))
	}
	fmt.Fprintf(o.Out, "\nOpen the links in separate browser windows, one participant per node: each joins\n"+
		"through their own organisation's node and the nodes carry the room between them.\n"+
		"In Firefox, first set media.peerconnection.ice.loopback to true in about:config: the\n"+
		"demo's nodes listen on loopback, which Firefox leaves out of its connections otherwise.\n"+
		"Press Ctrl-C to stop.\n")
	if idp != nil {
		fmt.Fprintf(o.Out, "\nSign-in: a TEST OpenID provider (not for production) runs at %s with these\n"+
			"demo accounts; sign in on a node's home page and start your own meetings there:\n", idp.Issuer)
		for _, a := range demoAccounts {
			fmt.Fprintf(o.Out, "  %-10s password %-10s (%s %s)\n", a.Username, a.Password, a.GivenName, a.Family)
		}
		for _, n := range nodes {
			fmt.Fprintf(o.Out, "  home page of %-12s %s/\n", n.Config().Name, n.URL())
		}
	}
	<-ctx.Done()
	fmt.Fprintln(o.Out, "stopping…")
	return nil
}

// startDemoNodes initialises (unless kept from an earlier run) and starts the demo nodes in
// parallel. On error it returns the nodes it started, for the caller to close.
func startDemoNodes(o demoOptions) ([]*node.Node, error) {
	nodes := make([]*node.Node, len(demoNodes))
	errs := make([]error, len(demoNodes))
	var wg sync.WaitGroup
	for i, d := range demoNodes {
		port := 0
		if o.Port != 0 {
			port = o.Port + i
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = startDemoNode(filepath.Join(o.Dir, d.dir), d.name,
				net.JoinHostPort(o.Host, strconv.Itoa(port)), o.issuer, demoClientID(i), o.Log.With("node", d.name))
		}()
	}
	wg.Wait()
	started := nodes[:0]
	for _, n := range nodes {
		if n != nil {
			started = append(started, n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return started, err
	}
	return nodes, nil
}

// The demo nodes' clients at the test provider.
const demoClientSecret = "demo-secret"

func demoClientID(i int) string { return "parley-demo-" + demoNodes[i].dir }

// startDemoNode starts one demo node on dir, its HTTP on httpAddr, its media and libp2p on
// free loopback ports; with an issuer, people sign in there as clientID.
func startDemoNode(dir, name, httpAddr, issuer, clientID string, log *slog.Logger) (*node.Node, error) {
	if _, err := os.Stat(filepath.Join(dir, node.ConfigFile)); errors.Is(err, fs.ErrNotExist) {
		if _, err := node.Init(dir, node.InitOptions{Name: name, HTTPAddr: httpAddr}); err != nil {
			return nil, err
		}
	}
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	// New derives the URL again from the HTTP address; the three nodes' other sockets take
	// free ports (libp2p and cascade addresses travel in invites and node records).
	host, _, _ := net.SplitHostPort(httpAddr)
	cfg.HTTPAddr, cfg.PublicURL = httpAddr, ""
	cfg.MediaUDPAddr, cfg.MediaTCPAddr = net.JoinHostPort(host, "0"), ""
	cfg.CascadeAddr = net.JoinHostPort(host, "0")
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.P2PAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
	cfg.OIDC = nil
	if issuer != "" {
		secret := filepath.Join(dir, "demo-oidc-secret")
		if err := os.WriteFile(secret, []byte(demoClientSecret), 0o600); err != nil {
			return nil, err
		}
		cfg.OIDC = &node.OIDCConfig{Issuer: issuer, ClientID: clientID, ClientSecretFile: secret,
			Scopes: []string{"openid", "email", "profile"}}
	}
	n, err := node.New(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return n, nil
}

// federateDemo makes every pair of nodes trust each other by invite, in parallel. Kept
// nodes are federated already, but their libp2p ports are new: redeeming an invite again
// updates the addresses they know of each other.
func federateDemo(ctx context.Context, nodes []*node.Node) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i, inviter := range nodes {
		for _, joiner := range nodes[i+1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inv, err := inviter.Invite(time.Minute)
				if err == nil {
					_, err = joiner.JoinFederation(ctx, inv)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("federate %s with %s: %w", joiner.Config().Name, inviter.Config().Name, err))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitConnected waits until every node is connected to every other.
func waitConnected(ctx context.Context, nodes []*node.Node) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := ""
		for _, n := range nodes {
			connected := 0
			for _, p := range n.Peers() {
				if p.Connected {
					connected++
				}
			}
			if connected < len(nodes)-1 {
				missing = n.Config().Name
			}
		}
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not connected to the other nodes: %w", missing, ctx.Err())
		case <-tick.C:
		}
	}
}

// closeAll closes nodes in parallel.
func closeAll(nodes []*node.Node) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Close(); err != nil {
				errs[i] = fmt.Errorf("stop %s: %w", n.Config().Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// demoRoom reuses the demo room of a kept data directory, or creates it.
func demoRoom(n *node.Node) (node.Room, error) {
	rooms, err := n.Rooms()
	if err != nil {
		return node.Room{}, err
	}
	for _, r := range rooms {
		if r.Title == demoTitle {
			return r, nil
		}
	}
	return n.CreateRoom(demoTitle)
}
