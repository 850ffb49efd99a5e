package web

import (
	"encoding/json"
	"html"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	xhtml "golang.org/x/net/html"
)

// The web client's catalogues (static/i18n): every language has exactly English's keys
// with the same placeholders, every key the client names exists, every key is used, the
// static pages' own text is the English message, and the French follows French typography.

var (
	placeholderRE = regexp.MustCompile(`\{(\w+)\}`)
	htmlKeyRE     = regexp.MustCompile(`data-i18n="([^"]+)"`)
	htmlTextRE    = regexp.MustCompile(`data-i18n="([^"]+)"[^>]*>([^<]*)<`)
	htmlAttrRE    = regexp.MustCompile(`data-i18n-attr="([^"]+)"`)
	jsKeyRE       = regexp.MustCompile(`'([a-z][a-zA-Z0-9]*\.[a-zA-Z][a-zA-Z0-9.]*)'`)
)

// catalogue is one language's messages: a string, or plural forms.
type catalogue map[string]json.RawMessage

func loadCatalogues(t *testing.T) map[string]catalogue {
	t.Helper()
	files, err := fs.Glob(Static, "static/i18n/*.js")
	if err != nil || len(files) == 0 {
		t.Fatalf("no catalogues: %v", err)
	}
	out := map[string]catalogue{}
	for _, f := range files {
		data, err := Static.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The module is a comment, "export default", a JSON object and ";".
		text := string(data)
		start, end := strings.Index(text, "export default {"), strings.LastIndex(text, "};")
		if start < 0 || end < start {
			t.Fatalf("%s: not `export default {…};`", f)
		}
		var c catalogue
		if err := json.Unmarshal([]byte(text[start+len("export default "):end+1]), &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(path.Base(f), ".js")] = c
	}
	return out
}

// forms returns a message's texts: one, or its plural forms by category.
func forms(t *testing.T, lang, key string, raw json.RawMessage) map[string]string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return map[string]string{"": s}
	}
	var p map[string]string
	if err := json.Unmarshal(raw, &p); err != nil || p["other"] == "" {
		t.Errorf("%s %s: neither a string nor plural forms with \"other\"", lang, key)
	}
	return p
}

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestCataloguesMatch(t *testing.T) {
	cats := loadCatalogues(t)
	en := cats["en"]
	if en == nil || cats["fr"] == nil {
		t.Fatalf("want en and fr catalogues, have %v", slices.Sorted(maps.Keys(cats)))
	}
	for lang, c := range cats {
		for key := range en {
			if _, ok := c[key]; !ok {
				t.Errorf("%s: no %q", lang, key)
			}
		}
		for key, raw := range c {
			want, ok := en[key]
			if !ok {
				t.Errorf("%s: %q is not in English", lang, key)
				continue
			}
			ph := placeholders(strings.Join(slices.Collect(maps.Values(forms(t, "en", key, want))), " "))
			for form, text := range forms(t, lang, key, raw) {
				if strings.TrimSpace(text) == "" {
					t.Errorf("%s %s: empty", lang, key)
				}
				if got := placeholders(text); !slices.Equal(got, ph) && !(form == "one" && len(got) == 0) {
					t.Errorf("%s %s %s: placeholders %v, English has %v", lang, key, form, got, ph)
				}
			}
		}
	}
}

func TestCataloguesUsed(t *testing.T) {
	en := loadCatalogues(t)["en"]
	used := map[string]string{}
	err := fs.WalkDir(Static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "/vendor/") || strings.Contains(p, "/i18n/") {
			return err
		}
		data, err := Static.ReadFile(p)
		if err != nil {
			return err
		}
		text := string(data)
		switch path.Ext(p) {
		case ".html":
			for _, m := range htmlKeyRE.FindAllStringSubmatch(text, -1) {
				used[m[1]] = p
			}
			// The page's own text is English's, so nothing moves when the client fills it in.
			for _, m := range htmlTextRE.FindAllStringSubmatch(text, -1) {
				var want string
				_ = json.Unmarshal(en[m[1]], &want)
				if got := html.UnescapeString(m[2]); got != want {
					t.Errorf("%s: %q shows %q, English says %q", p, m[1], got, want)
				}
			}
			for _, m := range htmlAttrRE.FindAllStringSubmatch(text, -1) {
				for _, pair := range strings.Split(m[1], ";") {
					if _, key, ok := strings.Cut(pair, "="); ok {
						used[strings.TrimSpace(key)] = p
					}
				}
			}
		case ".js":
			for _, m := range jsKeyRE.FindAllStringSubmatch(text, -1) {
				used[m[1]] = p
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, where := range used {
		if strings.HasPrefix(key, "parley.") || strings.HasSuffix(key, ".js") || strings.HasSuffix(key, ".json") {
			continue // a storage key or a file, not a message
		}
		if _, ok := en[key]; !ok {
			t.Errorf("%s names %q, which no catalogue has", where, key)
		}
	}
	for key := range en {
		if _, ok := used[key]; !ok {
			t.Errorf("%q is in the catalogues but nothing shows it", key)
		}
	}
}

// French typography: a no-break space before ":" and a narrow one before "?", "!" and ";";
// typographic apostrophes; guillemets with no-break spaces inside.
func TestFrenchTypography(t *testing.T) {
	fr := loadCatalogues(t)["fr"]
	bad := regexp.MustCompile(`( [:;?!])|([^\x{00a0}\x{202f} ][;?!])|([^\x{00a0}\s]:\s)|'|«[^\x{00a0}]|[^\x{00a0}]»|"`)
	for key, raw := range fr {
		for _, text := range forms(t, "fr", key, raw) {
			clean := placeholderRE.ReplaceAllString(text, "X")
			clean = regexp.MustCompile(`https?://\S+|<code>.*?</code>`).ReplaceAllString(clean, "")
			if m := bad.FindString(clean); m != "" {
				t.Errorf("fr %s: %q breaks French typography at %q", key, text, m)
			}
		}
	}
}

// translatedAttrs are the attributes a person sees or hears.
var translatedAttrs = []string{"aria-label", "title", "placeholder", "alt"}

// TestHTMLTextTranslated: every word the static pages show, as text or in a visible or
// spoken attribute, comes from a catalogue key (data-i18n, data-i18n-attr).
func TestHTMLTextTranslated(t *testing.T) {
	files, _ := fs.Glob(Static, "static/*.html")
	for _, f := range files {
		data, err := Static.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		z := xhtml.NewTokenizer(strings.NewReader(string(data)))
		type open struct {
			tag        string
			translated bool
		}
		var stack []open
		for {
			tt := z.Next()
			if tt == xhtml.ErrorToken {
				break
			}
			tok := z.Token()
			switch tt {
			case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
				attrs := map[string]string{}
				for _, a := range tok.Attr {
					attrs[a.Key] = a.Val
				}
				_, keyed := attrs["data-i18n"]
				for _, name := range translatedAttrs {
					v, ok := attrs[name]
					if !ok || !hasLetter(v) {
						continue
					}
					if !strings.Contains(attrs["data-i18n-attr"], name+"=") {
						t.Errorf("%s: <%s %s=%q> is not from a catalogue (data-i18n-attr)", f, tok.Data, name, v)
					}
				}
				if tt == xhtml.StartTagToken && !voidElement(tok.Data) {
					stack = append(stack, open{tok.Data, keyed})
				}
			case xhtml.EndTagToken:
				for i := len(stack) - 1; i >= 0; i-- {
					if stack[i].tag == tok.Data {
						stack = stack[:i]
						break
					}
				}
			case xhtml.TextToken:
				if !hasLetter(tok.Data) || len(stack) == 0 {
					continue
				}
				top := stack[len(stack)-1]
				switch {
				case top.tag == "script" || top.tag == "style" || top.translated:
					continue
				case strings.TrimSpace(tok.Data) == "Parley": // the product's name, in every language
					continue
				case top.tag == "code" || top.tag == "kbd": // a command or a key, typed as is
					continue
				case top.tag == "noscript": // read without the client: it says it in both languages
					continue
				}
				t.Errorf("%s: text %q in <%s> is not from a catalogue (data-i18n)", f, strings.TrimSpace(tok.Data), top.tag)
			}
		}
	}
}

func hasLetter(s string) bool {
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}

func voidElement(tag string) bool {
	switch tag {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr":
		return true
	}
	return false
}

// shownLiteralRE finds a string literal the client puts where people see or hear it:
// text, a title, a spoken label, a placeholder, a toast.
var shownLiteralRE = regexp.MustCompile("(?:\\.textContent|\\.title|\\.placeholder|\\.innerText)\\s*=\\s*(['\"`])((?:[^'\"`\\\\]|\\\\.)*)['\"`]" +
	"|setAttribute\\('(?:aria-label|title|placeholder|alt)',\\s*(['\"`])((?:[^'\"`\\\\]|\\\\.)*)['\"`]" +
	"|toast\\(\\s*(['\"`])((?:[^'\"`\\\\]|\\\\.)*)['\"`]")

// interpolationRE is a template literal's ${…}.
var interpolationRE = regexp.MustCompile(`\$\{[^}]*\}`)

// TestScriptTextTranslated: the client's scripts show no words of their own: what they put
// on screen comes from t() (a literal may join translated parts with punctuation, or name
// the product).
func TestScriptTextTranslated(t *testing.T) {
	files, _ := fs.Glob(Static, "static/*.js")
	for _, f := range files {
		data, err := Static.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range shownLiteralRE.FindAllStringSubmatch(string(data), -1) {
			lit := m[2] + m[4] + m[6]
			rest := strings.ReplaceAll(interpolationRE.ReplaceAllString(lit, ""), "Parley", "")
			if hasLetter(rest) {
				t.Errorf("%s: %q is shown as is, not through a catalogue", f, m[0])
			}
		}
	}
}
