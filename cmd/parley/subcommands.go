package main

import (
	"fmt"
	"io"
	"strings"
)

// subcommand is one command of a group: "create" of `parley room create`.
type subcommand struct {
	name string
	run  func(args []string, stdout, stderr io.Writer) error
}

// runGroup runs the subcommand of group named by args[0]. With no subcommand, or an unknown
// one, it prints usage to stderr and returns a usage error naming the choices; with -h or
// --help it prints usage to stdout.
func runGroup(group, usage string, subs []subcommand, args []string, stdout, stderr io.Writer) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	choices := names[0]
	if n := len(names); n > 1 {
		choices = strings.Join(names[:n-1], ", ") + " or " + names[n-1]
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("say %s", choices)
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(args[1:], stdout, stderr)
		}
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown %s command %q (want %s)", group, args[0], choices)
}
