package testnet

import (
	"testing"
	"time"

	"parley/testnet/bench"
)

// Eventually retries cond until it returns nil, and fails the test with cond's last error if
// that has not happened within timeout. what names the condition in the failure.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("%s: not true after %v: %v", what, timeout, err)
	}
}

// Poll retries cond until it returns nil or timeout passes, and returns cond's last error.
func Poll(timeout time.Duration, cond func() error) error { return bench.Poll(timeout, cond) }
