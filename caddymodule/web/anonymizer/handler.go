package anonymizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/plugins"
)

func zapPage(name string) zap.Field { return zap.String("page", name) }
func zapErr(err error) zap.Field    { return zap.Error(err) }

// routes builds the app's routes. Every state-changing request goes
// through net/http's CrossOriginProtection first.
func (h *Handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	R := Root
	mux.HandleFunc("GET "+R, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, R+"/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET "+R+"/{$}", h.gate(h.index, true))
	mux.HandleFunc("POST "+R+"/{$}", h.gate(h.mask, false))
	mux.HandleFunc("GET "+R+"/chat", h.gate(h.chat, true))
	mux.HandleFunc("POST "+R+"/chat/stream", h.gate(h.chatStream, false))
	mux.HandleFunc("POST "+R+"/chat/message", h.gate(h.chatMessage, false))
	mux.HandleFunc("GET "+R+"/models", h.gate(h.models, false))
	mux.HandleFunc("GET "+R+"/set_lang/{lang}", h.setLang)
	mux.HandleFunc("GET "+R+"/privacy", h.static("privacy"))
	mux.HandleFunc("GET "+R+"/terms", h.static("terms"))
	mux.HandleFunc("GET "+R+"/login", h.loginPage)
	mux.HandleFunc("POST "+R+"/login", h.login)
	mux.HandleFunc("POST "+R+"/logout", h.logout)
	mux.HandleFunc("GET "+R+"/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		h.pages.static.ServeHTTP(w, r)
	})
	mux.HandleFunc(R+"/", func(w http.ResponseWriter, r *http.Request) {
		v := h.view(r, "error")
		v.Error = v.T["not_found"]
		h.render(w, http.StatusNotFound, "error", v)
	})
	protected := http.NewServeMux()
	protected.Handle("/", h.cop.Handler(mux))
	return protected
}

// key returns the API key a request carries: a bearer token (scripts) or
// the login cookie (the page).
func key(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if k, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
	}
	if c, err := r.Cookie(keyCookie); err == nil {
		return c.Value
	}
	return ""
}

// admission is what the router said about a request's key.
type admission int

const (
	admitted admission = iota
	needsKey           // 401 from the router
	noRouter           // the router is not behind the app, or failed
)

// admit asks the router, in process, whether it lets the request's key in
// (GET /v1/models with the key): the page lets no one in that the API
// would not. A key whose policy forbids listing (403) is still a valid key.
func (h *Handler) admit(r *http.Request) (admission, bool) {
	k := key(r)
	code, _, err := ask(r, http.MethodGet, "/v1/models", k, nil)
	switch {
	case err != nil:
		h.logger.Error("anonymizer: asking the router", zap.Error(err))
		return noRouter, false
	case code == http.StatusOK || code == http.StatusForbidden:
		return admitted, k != ""
	case code == http.StatusUnauthorized:
		return needsKey, k != ""
	}
	h.logger.Error("anonymizer: the router did not answer GET /v1/models", zap.Int("status", code), zap.Error(errNoRouter))
	return noRouter, false
}

// gate admits a request before fn runs: pages redirect to the login page,
// other requests get 401 in the OpenAI error shape.
func (h *Handler) gate(fn func(http.ResponseWriter, *http.Request, *view), page bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := h.view(r, "")
		a, withKey := h.admit(r)
		switch a {
		case needsKey:
			if page {
				http.Redirect(w, r, Root+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.apiError(w, http.StatusUnauthorized, "authentication_error", v.T["login_needed"])
			return
		case noRouter:
			if page {
				v.Error = v.T["router_unavailable"]
				h.render(w, http.StatusBadGateway, "error", v)
				return
			}
			h.apiError(w, http.StatusBadGateway, "api_error", v.T["router_unavailable"])
			return
		}
		v.AuthOn = withKey
		fn(w, r, v)
	}
}

// apiError answers in the OpenAI error shape.
func (h *Handler) apiError(w http.ResponseWriter, status int, typ, msg string) {
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": status}})
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request, v *view) {
	v.Page = "index"
	v.Algo = AlgoFast
	h.render(w, http.StatusOK, "index", v)
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request, v *view) {
	v.Page = "chat"
	h.render(w, http.StatusOK, "chat", v)
}

func (h *Handler) static(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := h.view(r, name)
		v.Next = r.URL.RequestURI()
		h.render(w, http.StatusOK, name, v)
	}
}

// mask is POST /anonymize/ (form text, algorithm): the result fragment, or
// the whole page when the browser navigated (a form sent without script).
func (h *Handler) mask(w http.ResponseWriter, r *http.Request, v *view) {
	status, res := h.runMask(w, r, v)
	if r.Header.Get("Sec-Fetch-Mode") == "navigate" {
		v.Page, v.Result = "index", res
		h.render(w, status, "index", v)
		return
	}
	h.render(w, status, "result", &view{T: v.T, Result: res})
}

func (h *Handler) runMask(w http.ResponseWriter, r *http.Request, v *view) (int, *resultView) {
	fail := func(status int, key string) (int, *resultView) {
		return status, &resultView{Error: h.msg(v, key)}
	}
	if st, key := h.parseForm(w, r); st != 0 {
		return fail(st, key)
	}
	text, algo := r.PostForm.Get("text"), r.PostForm.Get("algorithm")
	v.Text, v.Algo = text, NormalizeAlgorithm(algo)
	if int64(len(text)) > h.MaxText {
		v.Text = ""
		return fail(http.StatusRequestEntityTooLarge, "too_long")
	}
	if err := CheckText(text); err != nil {
		if errors.Is(err, ErrNotText) {
			v.Text = ""
			return fail(http.StatusBadRequest, "not_text")
		}
		return fail(http.StatusBadRequest, "empty_text")
	}
	res, err := h.maskers.Mask(r.Context(), algo, []string{text})
	if err != nil {
		return h.maskFailure(err, v)
	}
	return http.StatusOK, &resultView{Masked: res.Texts[0], Segments: Segments(res.Texts[0], res.Mappings), Rows: res.Rows()}
}

// maskFailure turns a masking error into a status and a message; the
// text is never shown unmasked in its place.
func (h *Handler) maskFailure(err error, v *view) (int, *resultView) {
	switch {
	case errors.Is(err, ErrUnknownAlgorithm):
		return http.StatusBadRequest, &resultView{Error: v.T["not_supported"]}
	case errors.Is(err, ErrNoPIIService):
		return http.StatusServiceUnavailable, &resultView{Error: v.T["pii_not_configured"]}
	case errors.Is(err, plugins.ErrServiceUnavailable):
		return http.StatusServiceUnavailable, &resultView{Error: v.T["pii_unavailable"]}
	}
	h.logger.Warn("anonymizer: masking failed", zap.Error(err))
	return http.StatusInternalServerError, &resultView{Error: v.T["mask_failed"]}
}

func (h *Handler) models(w http.ResponseWriter, r *http.Request, v *view) {
	code, list, err := models(r, key(r))
	if err != nil || code != http.StatusOK {
		h.apiError(w, http.StatusBadGateway, "api_error", v.T["models_unavailable"])
		return
	}
	if list == nil {
		list = []Model{}
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"models": list})
}

// chatRequest is the page's chat request (POST /anonymize/chat/stream).
type chatRequest struct {
	Model     string        `json:"model"`
	System    string        `json:"system"`
	Messages  []ChatMessage `json:"messages"`
	Anonymize bool          `json:"anonymize"`
	Algorithm string        `json:"algorithm"`
}

// chatStream masks the chat (when asked to) and relays it to the router's
// /v1/chat/completions in process; the router's event stream comes back
// as it is, token by token. The caller going away cancels the internal
// request and with it the provider's.
func (h *Handler) chatStream(w http.ResponseWriter, r *http.Request, v *view) {
	limit := 4*h.MaxText + 64<<10
	body, err := readBounded(w, r, limit)
	if err != nil {
		// Only a body over the limit is "too long"; a body cut short (the
		// client left) is a bad request.
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.apiError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", h.msg(v, "too_long"))
		} else {
			h.apiError(w, http.StatusBadRequest, "invalid_request_error", v.T["bad_form"])
		}
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		h.apiError(w, http.StatusBadRequest, "invalid_request_error", v.T["bad_form"])
		return
	}
	msgs, status, msg := h.chatMessages(r, v, req)
	if status != 0 {
		h.apiError(w, status, "invalid_request_error", msg)
		return
	}
	h.relay(w, r, req.Model, msgs)
}

// chatMessages validates and (when asked to) masks a chat; a non-zero
// status is a refusal with its message.
func (h *Handler) chatMessages(r *http.Request, v *view, req chatRequest) ([]ChatMessage, int, string) {
	if strings.TrimSpace(req.Model) == "" {
		return nil, http.StatusBadRequest, v.T["no_model"]
	}
	if len(req.Messages) == 0 {
		return nil, http.StatusBadRequest, v.T["empty_text"]
	}
	var msgs []ChatMessage
	if strings.TrimSpace(req.System) != "" {
		msgs = append(msgs, ChatMessage{Role: "system", Content: req.System})
	}
	var total int64
	for _, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, http.StatusBadRequest, v.T["bad_form"]
		}
		total += int64(len(m.Content))
		msgs = append(msgs, m)
	}
	if last := req.Messages[len(req.Messages)-1]; last.Role != "user" || CheckText(last.Content) != nil {
		return nil, http.StatusBadRequest, v.T["empty_text"]
	}
	if total+int64(len(req.System)) > 4*h.MaxText {
		return nil, http.StatusRequestEntityTooLarge, h.msg(v, "too_long")
	}
	if !req.Anonymize {
		return msgs, 0, ""
	}
	texts := make([]string, len(msgs))
	for i, m := range msgs {
		texts[i] = m.Content
	}
	res, err := h.maskers.Mask(r.Context(), req.Algorithm, texts)
	if err != nil {
		st, rv := h.maskFailure(err, v)
		return nil, st, rv.Error
	}
	for i := range msgs {
		msgs[i].Content = res.Texts[i]
	}
	return msgs, 0, ""
}

// relay sends the chat to the router and streams its answer to w.
func (h *Handler) relay(w http.ResponseWriter, r *http.Request, model string, msgs []ChatMessage) {
	b, err := chatBody(model, msgs)
	if err != nil {
		h.apiError(w, http.StatusInternalServerError, "api_error", err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := nextOf(r).ServeHTTP(w, internal(r, http.MethodPost, "/v1/chat/completions", key(r), b)); err != nil {
		h.logger.Warn("anonymizer: relaying a chat to the router failed", zap.Error(err))
	}
}

// chatMessage is the original's POST /anonymize/chat/message (form
// message, system_prompt, algorithm — "no_anno" turns masking off — and
// model_name): the answer's text, streamed as it comes. History is kept
// by the page in the browser, not on the server.
func (h *Handler) chatMessage(w http.ResponseWriter, r *http.Request, v *view) {
	if st, key := h.parseForm(w, r); st != 0 {
		h.apiError(w, st, "invalid_request_error", h.msg(v, key))
		return
	}
	algo := r.PostForm.Get("algorithm")
	req := chatRequest{
		Model:     r.PostForm.Get("model_name"),
		System:    r.PostForm.Get("system_prompt"),
		Messages:  []ChatMessage{{Role: "user", Content: r.PostForm.Get("message")}},
		Anonymize: algo != "no_anno",
		Algorithm: algo,
	}
	if NormalizeAlgorithm(algo) == "" {
		req.Algorithm = AlgoFast
	}
	msgs, status, msg := h.chatMessages(r, v, req)
	if status != 0 {
		h.apiError(w, status, "invalid_request_error", msg)
		return
	}
	b, err := chatBody(req.Model, msgs)
	if err != nil {
		h.apiError(w, http.StatusInternalServerError, "api_error", err.Error())
		return
	}
	dw := newDeltaWriter(w)
	err = nextOf(r).ServeHTTP(dw, internal(r, http.MethodPost, "/v1/chat/completions", key(r), b))
	if !dw.wrote {
		m := routerError(dw.errBuf.Bytes())
		if m == "" {
			m = v.T["router_unavailable"]
		}
		st := dw.status
		if st == 0 || st == http.StatusOK || err != nil {
			st = http.StatusBadGateway
		}
		h.apiError(w, st, "api_error", m)
		return
	}
	if err != nil {
		h.logger.Warn("anonymizer: relaying a chat to the router failed", zap.Error(err))
	}
}

func (h *Handler) setLang(w http.ResponseWriter, r *http.Request) {
	l := r.PathValue("lang")
	if _, ok := languages[l]; !ok {
		v := h.view(r, "error")
		v.Error = v.T["not_found"]
		h.render(w, http.StatusNotFound, "error", v)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: Root, MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure(r)})
	http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	v := h.view(r, "login")
	v.Next = safeNext(r.URL.Query().Get("next"))
	if code, _, err := ask(r, http.MethodGet, "/v1/models", "", nil); err == nil && code == http.StatusOK {
		http.Redirect(w, r, v.Next, http.StatusSeeOther) // the router takes no keys
		return
	}
	h.render(w, http.StatusOK, "login", v)
}

// login checks the key with the router and keeps it in a cookie the
// page's script cannot read (HttpOnly), sent only to this app's paths,
// only on same-site requests, and only over HTTPS (or to a loopback host).
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	v := h.view(r, "login")
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		v.Error = v.T["bad_form"]
		h.render(w, http.StatusBadRequest, "login", v)
		return
	}
	v.Next = safeNext(r.PostForm.Get("next"))
	k := strings.TrimSpace(r.PostForm.Get("key"))
	if !cookieSafe(k) {
		v.Error = v.T["bad_key"]
		h.render(w, http.StatusUnauthorized, "login", v)
		return
	}
	code, _, err := ask(r, http.MethodGet, "/v1/models", k, nil)
	if err != nil || (code != http.StatusOK && code != http.StatusForbidden) {
		v.Error = v.T["bad_key"]
		h.render(w, http.StatusUnauthorized, "login", v)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: keyCookie, Value: k, Path: Root, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r)})
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: keyCookie, Value: "", Path: Root, MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r)})
	http.Redirect(w, r, Root+"/login", http.StatusSeeOther)
}

// secure reports whether cookies may be marked Secure: always over TLS,
// and for a loopback host (browsers treat http://localhost as secure).
func secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// parseForm reads the request's urlencoded form, bounded: a form may
// triple the text's size, and the text itself is checked against the
// limit once decoded. On failure it returns the status and the message
// key: too_long when the body is over the bound, bad_form otherwise.
func (h *Handler) parseForm(w http.ResponseWriter, r *http.Request) (int, string) {
	r.Body = http.MaxBytesReader(w, r.Body, 3*h.MaxText+64<<10)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, "too_long"
		}
		return http.StatusBadRequest, "bad_form"
	}
	return 0, ""
}

// readBounded reads a request body of at most limit bytes.
func readBounded(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("anonymizer: reading the request: %w", err)
	}
	return b.Bytes(), nil
}

// msg returns a translated message with {limit} filled in.
func (h *Handler) msg(v *view, key string) string {
	return strings.ReplaceAll(v.T[key], "{limit}", humanize.IBytes(uint64(h.MaxText)))
}

// cookieSafe reports whether a key can travel in a cookie unchanged:
// 1 to 512 bytes of printable ASCII other than space, '"', ',', ';' and '\'
// (every key `llm-router keys` makes is).
func cookieSafe(k string) bool {
	if k == "" || len(k) > 512 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}
