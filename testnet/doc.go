// Package testnet runs real Parley nodes for tests: in-process nodes on loopback with their
// data in a test's temporary directory (StartNode), federations of them (NewEnv: every pair
// federated by invite, links cut and restored between chosen sets of nodes with Partition and
// Heal, nodes stopped and restarted on their data), headless Chromium and Firefox participants
// (NewBrowserOf: Chromium over the DevTools protocol, Firefox over WebDriver BiDi), and a UDP
// proxy that drops, delays and cuts datagrams. The benchmarks behind `parley bench` are in
// testnet/bench, which holds no test code and is all of testnet the binary links.
//
// It may import every package of the module; nothing but tests imports it. Every
// helper binds 127.0.0.1 port 0, bounds every wait with a timeout, routes logs to the test's
// log and registers its cleanup with t.Cleanup.
//
// The integration tests live here too: Go participants (media/client) exchanging audio, video
// and chat on one node; simulcast layer switching; a restart that keeps rooms and chat;
// malformed signalling; meetings between real browsers, end-to-end encrypted; ten nodes
// converging on a room's state; partitions that heal; and meetings whose media crosses the
// cascade between nodes, also over a lossy link.
package testnet
