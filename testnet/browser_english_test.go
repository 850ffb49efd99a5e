package testnet

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"parley/node/web"
)

// englishMessages are the web client's English messages that French says otherwise, as
// patterns over a whole shown string ({placeholders} match anything).
var englishMessages = func() []*regexp.Regexp {
	read := func(lang string) map[string]json.RawMessage {
		data, err := web.Static.ReadFile("static/i18n/" + lang + ".js")
		if err != nil {
			panic(err)
		}
		text := string(data)
		start, end := strings.Index(text, "export default {"), strings.LastIndex(text, "};")
		var m map[string]json.RawMessage
		if start < 0 || end < start || json.Unmarshal([]byte(text[start+len("export default "):end+1]), &m) != nil {
			panic("catalogue " + lang + " does not read")
		}
		return m
	}
	texts := func(raw json.RawMessage) []string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []string{s}
		}
		var p map[string]string
		_ = json.Unmarshal(raw, &p)
		var out []string
		for _, v := range p {
			out = append(out, v)
		}
		return out
	}
	en, fr := read("en"), read("fr")
	placeholder := regexp.MustCompile(`\{\w+\}`)
	var out []*regexp.Regexp
	for key, raw := range en {
		french := map[string]bool{}
		for _, f := range texts(fr[key]) {
			french[f] = true
		}
		for _, e := range texts(raw) {
			literal := placeholder.ReplaceAllString(e, "")
			letters := 0
			for _, r := range literal {
				if unicode.IsLetter(r) {
					letters++
				}
			}
			if french[e] || letters < 4 {
				continue // the same in both languages, or too short to tell
			}
			parts := placeholder.Split(e, -1)
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			out = append(out, regexp.MustCompile("^"+strings.Join(parts, ".+")+"$"))
		}
	}
	return out
}()

// noEnglish fails the test if b's page, shown in French, shows or speaks an English
// message of the client: in a visible text, a label, a title or a placeholder.
func noEnglish(t *testing.T, b *Browser, screen string) {
	t.Helper()
	shown, err := Eval[[]string](b, `(() => {
		const out = new Set();
		const visible = (el) => !!el && (el.checkVisibility ? el.checkVisibility() : el.offsetParent !== null);
		const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
		for (let n = w.nextNode(); n; n = w.nextNode()) {
			const s = n.textContent.trim();
			if (s && visible(n.parentElement)) out.add(s);
		}
		for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], [alt]')) {
			if (!visible(el)) continue;
			for (const a of ['aria-label', 'title', 'placeholder', 'alt']) {
				const v = el.getAttribute(a);
				if (v) out.add(v.trim());
			}
		}
		out.add(document.title);
		return [...out];
	})()`)
	if err != nil {
		t.Fatalf("%s: read what the page shows: %v", screen, err)
	}
	for _, s := range shown {
		for _, re := range englishMessages {
			if re.MatchString(s) {
				t.Errorf("%s: %q is English on a French screen", screen, s)
				break
			}
		}
	}
}
