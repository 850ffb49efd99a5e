package testnet

import (
	"strings"
	"testing"
	"time"

	"parley/node"
)

// TestBrowserHomeLanguage: the home page speaks the browser's language (English here), the
// language switch shows it in French (the choice stays for the next visit), and a node whose
// operator set French as its default language still follows a browser's own choice.
func TestBrowserHomeLanguage(t *testing.T) {
	n := StartNodeWith(t, "Ministère des Langues", func(c *node.Config) { c.DefaultLanguage = "fr" })
	forEachBrowser(t, func(t *testing.T, kind string) {
		b := NewBrowserOf(t, kind, "Reader")
		b.Open(n.URL() + "/")
		b.WaitText(`#join-title`, "Join with a link or code", 15*time.Second)
		if l, _ := Eval[string](b, `document.documentElement.lang`); l != "en" {
			t.Fatalf("html lang %q, want en", l)
		}
		if _, err := Eval[bool](b, `(() => { const s = document.querySelector('[data-testid=language]');
			s.value = 'fr'; s.dispatchEvent(new Event('change')); return true; })()`); err != nil {
			t.Fatal(err)
		}
		b.WaitText(`#join-title`, "Rejoindre avec un lien ou un code", 15*time.Second)
		if l, _ := Eval[string](b, `document.documentElement.lang`); l != "fr" {
			t.Fatalf("html lang %q after the switch, want fr", l)
		}
		b.Open(n.URL() + "/")
		b.WaitText(`#join-title`, "Rejoindre avec un lien ou un code", 15*time.Second)
		for _, e := range b.ConsoleErrors() {
			if strings.Contains(e, "parley i18n") {
				t.Errorf("console: %s", e)
			}
		}
	})
}
