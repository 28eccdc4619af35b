package manager

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Root is the path the app is served under.
const Root = "/manager"

//go:embed templates/*.html static
var assets embed.FS

// sessionCookie holds the session token (HttpOnly, SameSite=Strict,
// Secure over TLS and on loopback hosts).
const sessionCookie = "manager_session"

// pages holds the parsed templates; immutable once loaded.
type pages struct {
	tmpl   map[string]*template.Template
	static http.Handler
}

// pageNames are the pages; each is layout.html + <name>.html.
var pageNames = []string{"setup", "login", "error", "configs", "config", "import", "versions", "diff", "users", "password"}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	// dict builds a map for a sub-template: dict "K1" v1 "K2" v2 ….
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("dict: odd arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

func loadPages() (*pages, error) {
	p := &pages{tmpl: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("manager: template %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, fmt.Errorf("manager: static: %w", err)
	}
	p.static = http.StripPrefix(Root+"/static/", http.FileServerFS(sub))
	return p, nil
}

// render writes a page with the security headers.
func (h *Handler) render(w http.ResponseWriter, status int, name string, v *view) {
	v.Root = Root
	v.Page = name
	var b bytes.Buffer
	if err := h.pages.tmpl[name].Execute(&b, v); err != nil {
		h.logger.Error("manager: rendering a page failed", zapString("page", name), zapErr(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// fail renders the error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	v := h.view(r)
	v.Error = msg
	h.render(w, status, "error", v)
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
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
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
