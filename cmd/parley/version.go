package main

import (
	"fmt"
	"io"
	"runtime"

	"parley/node"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3" ./cmd/parley
var version = "dev"

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "version", "Prints Parley's version, the Go version it was built with and the data directory\n"+
		"format it writes (it moves older formats forward and refuses newer ones).", "parley version", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parley %s (%s, %s/%s), data format %d\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, node.DataFormat)
	return nil
}
