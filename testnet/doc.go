// Package testnet runs real Parley nodes for tests: in-process nodes on loopback with their
// data in a test's temporary directory (StartNode, and later a federation of them), headless
// Chromium participants driven over the DevTools protocol (NewBrowser), and the benchmarks.
//
// It may import every package of the module; nothing but cmd and tests imports it. Every
// helper binds 127.0.0.1 port 0, bounds every wait with a timeout, routes logs to the test's
// log and registers its cleanup with t.Cleanup.
//
// The integration tests of single-node meetings live here too: Go participants
// (media/client) exchanging audio, video and chat; simulcast layer switching; a restart that
// keeps rooms and chat; malformed signalling; and a meeting between two real browsers.
package testnet
