package transcribe

import (
	"math"
	"testing"
)

func TestWER(t *testing.T) {
	for _, c := range []struct {
		ref, hyp string
		want     float64
	}{
		{"Hello, world!", "hello world", 0},
		{"the cat sat on the mat", "the cat sat on mat", 1.0 / 6}, // a deletion
		{"the cat sat", "the dog sat down", 2.0 / 3},              // a substitution and an insertion
		{"L’équipe a voté.", "l'équipe a voté", 0},                // apostrophes are one
		{"", "", 0},
		{"", "noise", 1},
		{"one two", "", 1},
		{"Rendez-vous à 10 h", "rendez-vous à 10 h", 0},
	} {
		if got := WER(c.ref, c.hyp); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("WER(%q, %q) = %.3f, want %.3f", c.ref, c.hyp, got, c.want)
		}
	}
}
