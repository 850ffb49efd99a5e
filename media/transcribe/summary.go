package transcribe

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Line is one speaker's final segment in a transcript.
type Line struct {
	At      time.Duration // from the start of the transcript
	Speaker string
	Text    string
}

// Summary is what a transcript decided, who is to do what, and what it was about. Each
// decision and action is a sentence of the transcript, with its speaker.
type Summary struct {
	Language  string   `json:"language"` // "fr" or "en"
	Decisions []string `json:"decisions"`
	Actions   []string `json:"actions"`
	Topics    []string `json:"topics"`
}

// Cue phrases, lower case, matched at word boundaries.
var (
	decisionCues = map[string][]string{
		"en": {"we decided", "we have decided", "it is decided", "we agreed", "we agree", "agreed", "decision", "approved", "we will go with", "let's go with", "we chose", "we choose", "final answer"},
		"fr": {"nous avons décidé", "on a décidé", "il est décidé", "décision", "décidé", "nous sommes d'accord", "on est d'accord", "d'accord pour", "validé", "nous validons", "on valide", "adopté", "on retient", "nous retenons", "approuvé"},
	}
	actionCues = map[string][]string{
		"en": {"please", "i will", "i'll", "we will", "you will", "can you", "could you", "action item", "to do", "need to", "needs to", "must", "by monday", "by tuesday", "by wednesday", "by thursday", "by friday", "before monday", "before friday", "by tomorrow", "next week", "send", "prepare", "follow up"},
		"fr": {"merci de", "pourriez-vous", "peux-tu", "pouvez-vous", "je vais", "je m'en occupe", "nous allons", "tu vas", "vous allez", "il faut", "il faudra", "à faire", "d'ici", "avant lundi", "avant vendredi", "la semaine prochaine", "envoyer", "préparer", "relancer"},
	}
	stopWords = map[string]map[string]bool{
		"en": setOf("a about after again all also am an and any are as at be because been before being both but by can could did do does doing down during each few for from further had has have having he her here hers him his how i if in into is it its just let me more most my no nor not now of off on once only or other our ours out over own please same she should so some such than that the their them then there these they this those through to too under until up us very was we were what when where which while who whom why will with would yes you your yours okay ok thank thanks good morning everyone next year week time meeting need send think know going get got one two three"),
		"fr": setOf("a à au aux avec ce ces cette dans de des du elle en et eux il ils je la le les leur lui ma mais me même mes moi mon ne nos notre nous on ou où par pas pour qu que qui sa se ses son sur ta te tes toi ton tu un une vos votre vous c d j l m n s t y été être avoir fait faire est sont suis es sommes êtes ai as avons avez ont était alors aussi bien bon bonjour merci donc ça cela ceci comme plus moins très tout tous toute toutes oui non si déjà encore ici là puis quand comment pourquoi semaine année réunion faut va vais allons"),
	}
	sentenceEnd = regexp.MustCompile(`[.!?…]+\s+`)
)

// splitSentences cuts text after each sentence's closing punctuation, which stays.
func splitSentences(text string) []string {
	text = strings.TrimSpace(text) + " "
	var out []string
	prev := 0
	for _, m := range sentenceEnd.FindAllStringIndex(text, -1) {
		if s := strings.TrimSpace(text[prev:m[1]]); s != "" {
			out = append(out, s)
		}
		prev = m[1]
	}
	if s := strings.TrimSpace(text[prev:]); s != "" {
		out = append(out, s)
	}
	return out
}

func setOf(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// DetectLanguage tells French from English by their most common words; "en" when unsure.
func DetectLanguage(text string) string {
	fr, en := 0, 0
	for _, w := range Words(text) {
		if stopWords["fr"][w] && !stopWords["en"][w] {
			fr++
		}
		if stopWords["en"][w] && !stopWords["fr"][w] {
			en++
		}
	}
	if fr > en {
		return "fr"
	}
	return "en"
}

// Summarize picks, from the transcript itself, the sentences that state decisions and
// actions (by cue phrases of the transcript's language) and the topics (the words and pairs
// of words that matter most: frequent in the meeting, spread over several sentences, no
// common words). It runs locally; nothing is sent anywhere.
func Summarize(lines []Line) Summary {
	var all strings.Builder
	type sentence struct{ speaker, text string }
	var sentences []sentence
	for _, l := range lines {
		all.WriteString(l.Text + " ")
		for _, s := range splitSentences(l.Text) {
			sentences = append(sentences, sentence{l.Speaker, s})
		}
	}
	lang := DetectLanguage(all.String())
	sum := Summary{Language: lang, Decisions: []string{}, Actions: []string{}, Topics: []string{}}
	for _, s := range sentences {
		low := " " + strings.Join(Words(s.text), " ") + " "
		shown := s.text
		if s.speaker != "" {
			shown = s.speaker + ": " + s.text
		}
		switch {
		case hasCue(low, decisionCues[lang]):
			sum.Decisions = append(sum.Decisions, shown)
		case hasCue(low, actionCues[lang]):
			sum.Actions = append(sum.Actions, shown)
		}
	}
	// Topics: terms held by two sentences or more, ranked by how many hold them times their
	// length in words.
	score, held := map[string]int{}, map[string]int{}
	for _, s := range sentences {
		words := Words(s.text)
		seen := map[string]bool{}
		for i, w := range words {
			if !topicWord(w, lang) {
				continue
			}
			seen[w] = true
			if i+1 < len(words) && topicWord(words[i+1], lang) {
				seen[w+" "+words[i+1]] = true
			}
		}
		for term := range seen {
			score[term] += len(strings.Fields(term))
			held[term]++
		}
	}
	terms := make([]string, 0, len(score))
	for term, n := range held {
		if n >= 2 {
			terms = append(terms, term)
		}
	}
	sort.Slice(terms, func(i, j int) bool {
		if score[terms[i]] != score[terms[j]] {
			return score[terms[i]] > score[terms[j]]
		}
		return terms[i] < terms[j]
	})
	for _, term := range terms {
		if len(sum.Topics) == 5 {
			break
		}
		// A word already inside a chosen pair (or a pair around a chosen word) adds nothing.
		if slices.ContainsFunc(sum.Topics, func(t string) bool { return strings.Contains(t, term) || strings.Contains(term, t) }) {
			continue
		}
		sum.Topics = append(sum.Topics, term)
	}
	return sum
}

func hasCue(low string, cues []string) bool {
	for _, c := range cues {
		if strings.Contains(low, " "+strings.Join(Words(c), " ")+" ") {
			return true
		}
	}
	return false
}

func topicWord(w, lang string) bool {
	if len([]rune(w)) < 4 || stopWords[lang][w] || stopWords["en"][w] && lang == "en" {
		return false
	}
	for _, r := range w {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}
