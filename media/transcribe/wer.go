package transcribe

import (
	"strings"
	"unicode"
)

// Words splits text into the words a word error rate compares: lower case, punctuation
// dropped (an apostrophe or hyphen inside a word stays), digits kept.
func Words(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\'' && r != '’' && r != '-'
	}) {
		w = strings.Trim(strings.ReplaceAll(w, "’", "'"), "'-")
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// WER is the word error rate of hypothesis against reference: the fewest substitutions,
// deletions and insertions that turn one into the other, over the reference's length. It is
// 0 for a perfect match and can exceed 1 when the hypothesis adds many words. An empty
// reference gives 0 against an empty hypothesis and 1 otherwise.
func WER(reference, hypothesis string) float64 {
	ref, hyp := Words(reference), Words(hypothesis)
	if len(ref) == 0 {
		if len(hyp) == 0 {
			return 0
		}
		return 1
	}
	return float64(editDistance(ref, hyp)) / float64(len(ref))
}

// editDistance is the Levenshtein distance between two word lists, in two rows.
func editDistance(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
