package node

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"parley/node/auth"
)

func TestPageTextsMatch(t *testing.T) {
	for lang, texts := range pageText {
		for key, en := range pageText["en"] {
			m, ok := texts[key]
			if !ok {
				t.Errorf("%s: no %q", lang, key)
				continue
			}
			if strings.Count(m, "%s") != strings.Count(en, "%s") {
				t.Errorf("%s %s: %d %%s, English has %d", lang, key, strings.Count(m, "%s"), strings.Count(en, "%s"))
			}
		}
		if len(texts) != len(pageText["en"]) {
			t.Errorf("%s has %d texts, English %d", lang, len(texts), len(pageText["en"]))
		}
	}
}

// TestPagesInTheReadersLanguage: the node's own pages follow the web client's choice (its
// cookie), then Accept-Language, then the node's default language.
func TestPagesInTheReadersLanguage(t *testing.T) {
	n := startNodeWith(t, t.TempDir(), func(c *Config) { c.DefaultLanguage = "fr" })
	get := func(cookie, accept string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", n.URL()+"/r/"+strings.Repeat("a", 32), nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: langCookie, Value: cookie})
		}
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, c := range []struct{ cookie, accept, lang, title string }{
		{"", "en-GB,en;q=0.9", "en", "No such room"},
		{"", "fr-FR,fr;q=0.9,en;q=0.5", "fr", "Réunion introuvable"},
		{"", "de-DE, es", "fr", "Réunion introuvable"}, // the node's default
		{"en", "fr-FR", "en", "No such room"},          // the person's choice first
		{"xx", "en", "en", "No such room"},
	} {
		status, body := get(c.cookie, c.accept)
		if status != http.StatusNotFound || !strings.Contains(body, `<html lang="`+c.lang+`">`) || !strings.Contains(body, "<h1>"+c.title+"</h1>") {
			t.Errorf("cookie %q, Accept-Language %q: %d, want %s %q in %s", c.cookie, c.accept, status, c.lang, c.title, body)
		}
	}
}

// TestSignInPagesTranslated: every page the sign-in can show has a title and a text in
// every language, taking the arguments the sign-in passes.
func TestSignInPagesTranslated(t *testing.T) {
	for lang, texts := range pageText {
		for key, args := range auth.Messages {
			if texts[key+".title"] == "" {
				t.Errorf("%s: no title for %s", lang, key)
			}
			if n := strings.Count(texts[key+".text"], "%s"); n != args {
				t.Errorf("%s %s: the text takes %d arguments, the sign-in passes %d", lang, key, n, args)
			}
		}
	}
}

// TestFrenchPageTypography: French texts keep French typography: a no-break space before
// : ; ? !, typographic apostrophes.
func TestFrenchPageTypography(t *testing.T) {
	for key, m := range pageText["fr"] {
		rs := []rune(m)
		for i, r := range rs {
			if strings.ContainsRune(":;?!", r) && i > 0 && rs[i-1] != '\u00a0' && rs[i-1] != '\u202f' {
				// A colon inside a word or address (no space around it) is no punctuation.
				if rs[i-1] == ' ' || (i+1 < len(rs) && rs[i+1] == ' ') || i+1 == len(rs) {
					t.Errorf("%s: no no-break space before %q in %q", key, r, m)
				}
			}
		}
		if strings.Contains(m, "'") {
			t.Errorf("%s: a typewriter apostrophe in %q", key, m)
		}
	}
}
