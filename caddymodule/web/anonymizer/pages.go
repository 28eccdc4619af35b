package anonymizer

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// Root is the path the app is served under.
const Root = "/anonymize"

//go:embed templates/*.html static translations/*.json
var assets embed.FS

// languages are the translations shipped; the first of the original's was pl.
var languages = map[string]struct{}{"pl": {}, "en": {}}

// Cookie names.
const (
	langCookie = "anonymizer_lang"
	keyCookie  = "anonymizer_key"
)

// pages holds the parsed templates and translations; immutable once loaded.
type pages struct {
	tmpl   map[string]*template.Template
	tr     map[string]map[string]string
	static http.Handler
}

// page names; each is layout.html + <name>.html.
var pageNames = []string{"index", "chat", "login", "privacy", "terms", "error"}

func loadPages() (*pages, error) {
	p := &pages{tmpl: map[string]*template.Template{}, tr: map[string]map[string]string{}}
	for lang := range languages {
		b, err := assets.ReadFile("translations/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("anonymizer: translations: %w", err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("anonymizer: translations/%s.json: %w", lang, err)
		}
		p.tr[lang] = m
	}
	for _, name := range pageNames {
		t, err := template.New("layout.html").ParseFS(assets, "templates/layout.html", "templates/result.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("anonymizer: template %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	t, err := template.New("result.html").ParseFS(assets, "templates/result.html")
	if err != nil {
		return nil, fmt.Errorf("anonymizer: template result: %w", err)
	}
	p.tmpl["result"] = t
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	p.static = http.StripPrefix(Root+"/static/", http.FileServerFS(sub))
	return p, nil
}

// view is what every template sees.
type view struct {
	Root    string
	Lang    string
	T       map[string]string
	Page    string
	AuthOn  bool // the router asks for API keys
	MaxText int64
	Next    string
	Error   string
	Text    string
	Algo    string
	Result  *resultView
}

// resultView is the masking result fragment.
type resultView struct {
	Error    string
	Masked   string
	Segments []Segment
	Rows     []Mapping
}

// lang returns the page language: the cookie, else the default.
func (h *Handler) lang(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil {
		if _, ok := languages[c.Value]; ok {
			return c.Value
		}
	}
	return h.DefaultLanguage
}

func (h *Handler) view(r *http.Request, page string) *view {
	l := h.lang(r)
	return &view{Root: Root, Lang: l, T: h.pages.tr[l], Page: page, MaxText: h.MaxText}
}

// render writes a page with the security headers.
func (h *Handler) render(w http.ResponseWriter, status int, name string, v *view) {
	t := h.pages.tmpl[name]
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		h.logger.Error("anonymizer: rendering a page failed", zapPage(name), zapErr(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// csp allows only the app's own embedded scripts and styles: no inline
// code, no eval, nothing from elsewhere.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// safeNext returns next when it is a path of this app, else the app root.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Root + "/"
	}
	p := path.Clean(u.Path)
	if p != Root && !strings.HasPrefix(p, Root+"/") {
		return Root + "/"
	}
	if strings.HasSuffix(u.Path, "/") && p != "/" {
		p += "/"
	}
	u.Path = p
	return u.RequestURI()
}
