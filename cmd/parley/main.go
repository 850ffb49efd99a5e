// Command parley runs and administers a Parley video-conferencing node.
//
//	parley init  --data DIR --name NAME [--http ADDR] [--public-ip IP] [--tls-cert F --tls-key F]
//	parley serve --data DIR
//	parley room create --data DIR --title TITLE
//	parley room list --data DIR
//	parley federation invite --data DIR [--ttl 24h]
//	parley federation join --data DIR INVITE
//	parley federation list --data DIR
//	parley federation remove --data DIR PEER-ID
//	parley demo [--http 127.0.0.1:0] [--data DIR]
//	parley bench sfu [--subscribers N] [--duration D]
//	parley bench rekey [--participants N] [--leaves L]
//	parley bench gossip [--nodes N] [--changes K] [--chats C] [--full]
//	parley bench cascade [--subscribers N] [--duration D]
//	parley version
//
// Exit status: 0 on success, 2 for a usage error, 1 for any other failure.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"init":        {"prepare a data directory: configuration, node key, TLS certificate", runInit},
	"serve":       {"run the node on a data directory", runServe},
	"room":        {"create or list rooms on the running node", runRoom},
	"federation":  {"invite, join, list or remove federated nodes of the running node", runFederation},
	"demo":        {"start three federated throw-away nodes with one room and print its links", runDemo},
	"bench":       {"measure the node (bench sfu, rekey, gossip, cascade)", runBench},
	"transcribe":  {"print the transcript of a recording (WAV or Ogg Opus) with the node's speech engine", runTranscribe},
	"transcriber": {"run the meetings' transcriber on another machine than the node (a GPU box)", runTranscriber},
	"backup":      {"write a consistent backup of the running node's data directory", runBackup},
	"restore":     {"restore a backup into a new data directory", runRestore},
	"audit":       {"print the audit log of the running node (administrative and moderator actions)", runAudit},
	"version":     {"print the version", runVersion},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			if _, ok := commands[args[1]]; ok {
				return run([]string{args[1], "--help"}, stdout, stderr)
			}
		}
		usage(stdout)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "parley: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintf(stderr, "parley %s: %s\n", name, ue.msg)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "parley %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Parley: federated video meetings.\n\nUsage: parley COMMAND [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun `parley COMMAND --help` for a command's flags.\n"+
		"Try it locally: parley demo\n")
}

// usageError is a mistake in the command line: exit status 2. An empty msg means the flag
// package has already explained it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// newFlags makes a subcommand's flag set whose --help prints usage, a description and an
// example.
func newFlags(name, synopsis, description, example string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("parley "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley %s\n\n%s\n\nFlags:\n", synopsis, description)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nExample:\n  %s\n", example)
	}
	return fs
}

// parse parses args into fs, rejecting positional arguments. Errors are usage errors, except
// flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{} // the flag package printed the error and the usage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// requireFlag reports a missing required flag.
func requireFlag(fs *flag.FlagSet, name, value string) error {
	if value == "" {
		fs.Usage()
		return usagef("--%s is required", name)
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint([]string(*s)) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
