package testnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// modulePath is the module's import path: every internal package starts with it.
const modulePath = "parley"

// layerImports is DESIGN.md's layering as a table: for each top-level folder, the other
// top-level folders its packages (and their tests) may import. Imports inside one folder
// (media -> media/signal, node -> node/web) are always allowed. A folder that is not in the
// table fails the test: the top level is fixed, so a new one needs DESIGN.md first.
//
//	cmd -> node -> {federation, media} -> {mesh, identity};  testnet -> everything
//
// cmd is kept to node and testnet: node's public API is what binaries stand on, and the
// binary itself takes only testnet/bench (TestBinaryHoldsNoTestCode); its tests use testnet. media is told what to do through small
// interfaces and never reaches for mesh or federation.
var layerImports = map[string][]string{
	"identity":   {},
	"mesh":       {"identity"},
	"federation": {"identity", "mesh"},
	"media":      {"identity"},
	"node":       {"identity", "mesh", "federation", "media"},
	"cmd":        {"node", "testnet"},
	"testnet":    {"identity", "mesh", "federation", "media", "node"},
}

// packageImports narrows the rule for packages below a top-level folder: a package listed
// here (or below it) may import, inside the module, only the packages listed (and those
// below them), its own subtree, and the standard library and dependencies. node/meeting
// owns live meetings: it is told about the SFU, the store and the mesh through functions
// and small interfaces, and must not reach for them or for the node that composes it.
var packageImports = map[string][]string{
	"node/meeting": {"identity", "media/signal", "federation"},
}

// under reports whether path is pkg or a package below it.
func under(path, pkg string) bool { return path == pkg || strings.HasPrefix(path, pkg+"/") }

// topLevel returns the top-level folder of an internal import path, or "" for a path outside
// the module.
func topLevel(importPath string) string {
	rest, ok := strings.CutPrefix(importPath, modulePath+"/")
	if !ok {
		if importPath == modulePath {
			return "."
		}
		return ""
	}
	top, _, _ := strings.Cut(rest, "/")
	return top
}

// checkEdge returns nil if package from may import package to under layerImports.
func checkEdge(from, to string) error {
	fromTop, toTop := topLevel(from), topLevel(to)
	if toTop == "" {
		return nil // standard library or a module dependency
	}
	for pkg, allowed := range packageImports {
		if !under(from, modulePath+"/"+pkg) || under(to, modulePath+"/"+pkg) {
			continue
		}
		for _, a := range allowed {
			if under(to, modulePath+"/"+a) {
				return nil
			}
		}
		return errors.New(from + " imports " + to + ": " + pkg + " may import only " + strings.Join(allowed, ", ") + " (DESIGN.md, live meetings)")
	}
	allowed, ok := layerImports[fromTop]
	if !ok {
		return errors.New("package " + from + " lives in top-level folder " + fromTop + ", which DESIGN.md does not have")
	}
	if fromTop == toTop || slices.Contains(allowed, toTop) {
		return nil
	}
	return errors.New(from + " imports " + to + ": " + fromTop + " may import only " + strings.Join(allowed, ", ") + " (DESIGN.md layering)")
}

// listedPackage is the part of `go list -json` output the test reads.
type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Error        *struct{ Err string }
}

// listPackages lists every package of the module with its imports, test imports included.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the layering test needs the go command: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./... in %s: %v\n%s", root, err, stderr.Bytes())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestLayering fails when a package imports against DESIGN.md's layering.
func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	seen := map[string]bool{}
	var violations []string
	for _, p := range pkgs {
		if p.Error != nil {
			t.Logf("go list reports for %s: %s", p.ImportPath, p.Error.Err)
		}
		seen[p.ImportPath] = true
		if p.ImportPath != modulePath && !strings.HasPrefix(p.ImportPath, modulePath+"/") {
			violations = append(violations, "package "+p.ImportPath+" is outside module "+modulePath)
			continue
		}
		for _, list := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
			for _, imp := range list {
				if err := checkEdge(p.ImportPath, imp); err != nil {
					violations = append(violations, err.Error())
				}
			}
		}
	}
	// The test must see the packages it guards, or it would pass on an empty list.
	for _, must := range []string{"parley/media", "parley/media/signal", "parley/testnet", "parley/node/meeting"} {
		if !seen[must] {
			t.Errorf("go list did not report %s; the layering check is not looking at this module", must)
		}
	}
	sort.Strings(violations)
	for _, v := range slices.Compact(violations) {
		t.Error(v)
	}
}

// TestLayeringRules checks the rule table itself, so that TestLayering can fail.
func TestLayeringRules(t *testing.T) {
	forbidden := [][2]string{
		{"parley/media", "parley/node"},
		{"parley/media/client", "parley/node"},
		{"parley/media/signal", "parley/testnet"},
		{"parley/media", "parley/mesh"},
		{"parley/media", "parley/federation"},
		{"parley/media", "parley/cmd/parley"},
		{"parley/identity", "parley/mesh"},
		{"parley/identity", "parley/media"},
		{"parley/mesh", "parley/federation"},
		{"parley/mesh", "parley/media"},
		{"parley/federation", "parley/media"},
		{"parley/federation", "parley/node"},
		{"parley/node", "parley/cmd/parley"},
		{"parley/node", "parley/testnet"},
		{"parley/node/web", "parley/testnet"},
		{"parley/cmd/parley", "parley/media"},
		{"parley/cmd/parley", "parley/media/signal"},
		{"parley/cmd/parley", "parley/identity"},
		{"parley/testnet", "parley/cmd/parley"},
		{"parley/internal/x", "parley/media"}, // not a top-level folder of DESIGN.md
		{"parley/node/meeting", "parley/node"},
		{"parley/node/meeting", "parley/mesh"},
		{"parley/node/meeting", "parley/media"},
		{"parley/node/meeting", "parley/media/cascade"},
	}
	for _, e := range forbidden {
		if err := checkEdge(e[0], e[1]); err == nil {
			t.Errorf("rule table allows %s -> %s", e[0], e[1])
		}
	}
	allowed := [][2]string{
		{"parley/media", "parley/media/signal"},
		{"parley/media/client", "parley/media/signal"},
		{"parley/media", "parley/identity"},
		{"parley/mesh", "parley/identity"},
		{"parley/federation", "parley/mesh"},
		{"parley/node", "parley/media"},
		{"parley/node", "parley/media/signal"},
		{"parley/node", "parley/federation"},
		{"parley/node", "parley/node/web"},
		{"parley/cmd/parley", "parley/node"},
		{"parley/cmd/parley", "parley/testnet"},
		{"parley/testnet", "parley/node"},
		{"parley/testnet", "parley/media/client"},
		{"parley/media", "github.com/pion/webrtc/v4"},
		{"parley/identity", "crypto/ed25519"},
		{"parley/node/meeting", "parley/federation"},
		{"parley/node/meeting", "parley/media/signal"},
		{"parley/node/meeting", "parley/identity"},
		{"parley/node/meeting", "github.com/libp2p/go-libp2p/core/peer"},
		{"parley/node", "parley/node/meeting"},
	}
	for _, e := range allowed {
		if err := checkEdge(e[0], e[1]); err != nil {
			t.Errorf("rule table refuses %s -> %s: %v", e[0], e[1], err)
		}
	}
}

// TestBinaryHoldsNoTestCode fails when the shipped binary links the testing package, a
// browser driver or the test harness: `parley demo` and `parley bench` use only
// testnet/bench, which holds none of them.
func TestBinaryHoldsNoTestCode(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the test needs the go command: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "./cmd/parley")
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/parley: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "parley/node") || !slices.Contains(deps, "parley/testnet/bench") {
		t.Fatalf("go list -deps ./cmd/parley lists %d packages without parley/node or parley/testnet/bench", len(deps))
	}
	for _, d := range deps {
		if d == "testing" || d == modulePath+"/testnet" || strings.Contains(d, "chromedp") {
			t.Errorf("the parley binary links %s", d)
		}
	}
}
