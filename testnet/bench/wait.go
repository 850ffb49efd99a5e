package bench

import "time"

// pollInterval is how often Poll retries.
const pollInterval = 50 * time.Millisecond

// Poll retries cond until it returns nil or timeout passes, and returns cond's last error.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pollInterval)
	}
}
