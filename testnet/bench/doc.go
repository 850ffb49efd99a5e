// Package bench holds Parley's benchmarks — `parley bench sfu`, `cascade`, `gossip` and
// `rekey` — and what they need: nodes in their own processes, Go participants as load,
// /proc readings, Prometheus scrapes. It holds no test code (no testing package, no browser
// driver), so the shipped binary can run the benchmarks; package testnet's tests use its
// helpers too.
package bench
