package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/web/manager/store"
)

func zapString(k, v string) zap.Field { return zap.String(k, v) }
func zapErr(err error) zap.Field      { return zap.Error(err) }

// maxForm bounds a form that carries no document.
const maxForm = 64 << 10

// view is what every template sees.
type view struct {
	Root   string
	Page   string
	User   *store.User
	Error  string
	Notice string
	Next   string
	Name   string
	Text   string
	Note   string

	Projects  []store.Project
	Project   store.Project
	Configs   []configRow
	Config    store.Config
	Doc       *docView
	Invalid   string
	Active    *store.Activation
	Versions  []store.Version
	Diff      []diffLine
	A, B      int64
	Users     []store.User
	Form      url.Values
	FormFor   string
	MaxUpload int64
}

func (h *Handler) view(r *http.Request) *view {
	v := &view{Root: Root, MaxUpload: maxDoc}
	if u, ok := r.Context().Value(userKey{}).(store.User); ok {
		v.User = &u
	}
	v.Notice = noticeText(r.URL.Query().Get("done"))
	return v
}

// IsAdmin reports whether the viewer is an administrator.
func (v *view) IsAdmin() bool { return v.User != nil && v.User.Role == store.RoleAdmin }

type userKey struct{}

// userOf returns the logged-in user of a request that went through auth.
func userOf(r *http.Request) store.User {
	u, _ := r.Context().Value(userKey{}).(store.User)
	return u
}

// routes builds the app's routes. Every request goes through net/http's
// CrossOriginProtection first (it checks the state-changing ones).
func (h *Handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	R := Root
	page, api, admin := h.auth(true, false), h.auth(false, false), h.auth(true, true)
	mux.HandleFunc("GET "+R, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, R+"/", http.StatusMovedPermanently) })
	mux.HandleFunc("GET "+R+"/{$}", page(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, R+"/configs", http.StatusSeeOther)
	}))
	mux.HandleFunc("GET "+R+"/setup", h.setupPage)
	mux.HandleFunc("POST "+R+"/setup", h.setup)
	mux.HandleFunc("GET "+R+"/login", h.loginPage)
	mux.HandleFunc("POST "+R+"/login", h.login)
	mux.HandleFunc("POST "+R+"/logout", h.logout)
	mux.HandleFunc("GET "+R+"/change_password", page(h.passwordPage))
	mux.HandleFunc("POST "+R+"/change_password", page(h.changePassword))
	mux.HandleFunc("GET "+R+"/admin/users", admin(h.usersPage))
	mux.HandleFunc("POST "+R+"/admin/users", admin(h.createUser))
	mux.HandleFunc("POST "+R+"/admin/users/{id}/edit", admin(h.editUser))
	mux.HandleFunc("POST "+R+"/admin/users/{id}/toggle_block", admin(h.toggleBlock))
	mux.HandleFunc("GET "+R+"/projects", page(h.configsPage))
	mux.HandleFunc("POST "+R+"/projects", page(h.createProject))
	mux.HandleFunc("POST "+R+"/projects/select/{id}", page(h.selectProject))
	mux.HandleFunc("POST "+R+"/projects/{id}/{action}", page(func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("action") { // rename and delete, as the original's
		case "rename":
			h.renameProject(w, r)
		case "delete":
			h.deleteProject(w, r)
		default:
			h.fail(w, r, http.StatusNotFound, "This page does not exist.")
		}
	}))
	mux.HandleFunc("GET "+R+"/configs", page(h.configsPage))
	mux.HandleFunc("GET "+R+"/configs/new", page(h.importPage))
	mux.HandleFunc("POST "+R+"/configs/new", page(h.importConfig))
	mux.HandleFunc("GET "+R+"/configs/import", page(h.importPage))
	mux.HandleFunc("POST "+R+"/configs/import", page(h.importConfig))
	mux.HandleFunc("GET "+R+"/configs/{id}", page(h.configPage))
	mux.HandleFunc("GET "+R+"/configs/{id}/export", page(h.export))
	mux.HandleFunc("POST "+R+"/configs/{id}/edit", page(h.editConfig))
	mux.HandleFunc("POST "+R+"/configs/{id}/json", page(h.editJSON))
	mux.HandleFunc("POST "+R+"/configs/{id}/models/add", page(h.addModel))
	mux.HandleFunc("POST "+R+"/configs/{id}/models/delete", page(h.deleteModel))
	mux.HandleFunc("POST "+R+"/configs/{id}/providers/save", page(h.saveProvider))
	mux.HandleFunc("POST "+R+"/configs/{id}/providers/delete", page(h.deleteProvider))
	mux.HandleFunc("POST "+R+"/configs/{id}/providers/reorder", api(h.reorder))
	mux.HandleFunc("POST "+R+"/configs/{id}/providers/test", h.auth(false, true)(h.testProvider))
	mux.HandleFunc("POST "+R+"/configs/{id}/activate", admin(h.activate))
	mux.HandleFunc("POST "+R+"/configs/{id}/delete", page(h.deleteConfig))
	mux.HandleFunc("GET "+R+"/configs/{id}/versions", page(h.versionsPage))
	mux.HandleFunc("GET "+R+"/configs/{id}/diff", page(h.diffPage))
	mux.HandleFunc("POST "+R+"/configs/{id}/versions/{v}/restore", page(h.restore))
	mux.HandleFunc("GET "+R+"/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		h.pages.static.ServeHTTP(w, r)
	})
	mux.HandleFunc(R+"/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "This page does not exist.")
	})
	protected := http.NewServeMux()
	protected.Handle("/", h.cop.Handler(mux))
	return protected
}

// auth admits a request with a valid session before fn runs. Pages
// redirect to setup (no user yet) or login; other requests get a JSON
// 401. adminOnly refuses everyone else with 403 (users management) —
// checked here, on the server, whatever the page showed.
func (h *Handler) auth(isPage, adminOnly bool) func(http.HandlerFunc) http.HandlerFunc {
	return func(fn http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			u, err := h.sessionUser(r)
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					h.logger.Error("manager: reading the session", zapErr(err))
					h.failAny(w, r, isPage, http.StatusInternalServerError, "The database is unavailable.")
					return
				}
				if !isPage {
					h.jsonError(w, http.StatusUnauthorized, "Log in first.")
					return
				}
				if need, err := h.app.st.NeedsSetup(ctx); err == nil && need {
					http.Redirect(w, r, Root+"/setup", http.StatusSeeOther)
					return
				}
				http.Redirect(w, r, Root+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			r = r.WithContext(context.WithValue(ctx, userKey{}, u))
			if adminOnly && u.Role != store.RoleAdmin {
				h.failAny(w, r, isPage, http.StatusForbidden, "Only an administrator may do this.")
				return
			}
			fn(w, r)
		}
	}
}

func (h *Handler) failAny(w http.ResponseWriter, r *http.Request, isPage bool, status int, msg string) {
	if isPage {
		h.fail(w, r, status, msg)
		return
	}
	h.jsonError(w, status, msg)
}

// jsonError answers {"error": msg}, the original's JSON error shape.
func (h *Handler) jsonError(w http.ResponseWriter, status int, msg string) {
	h.writeJSON(w, status, map[string]any{"error": msg})
}

func (h *Handler) writeJSON(w http.ResponseWriter, status int, v any) {
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) sessionUser(r *http.Request) (store.User, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 256 {
		return store.User{}, store.ErrNotFound
	}
	return h.app.st.SessionUser(r.Context(), c.Value)
}

// parseForm reads a small urlencoded form, bounded.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	return r.ParseForm()
}

func (h *Handler) setupPage(w http.ResponseWriter, r *http.Request) {
	need, err := h.app.st.NeedsSetup(r.Context())
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "The database is unavailable.")
		return
	}
	if !need {
		http.Redirect(w, r, Root+"/login", http.StatusSeeOther)
		return
	}
	h.render(w, http.StatusOK, "setup", h.view(r))
}

// setup creates the first administrator and logs them in.
func (h *Handler) setup(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	if err := parseForm(w, r); err != nil {
		v.Error = "The form could not be read."
		h.render(w, http.StatusBadRequest, "setup", v)
		return
	}
	name, pw := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
	v.Name = name
	if pw != r.PostForm.Get("password2") {
		v.Error = "The two passwords differ."
		h.render(w, http.StatusBadRequest, "setup", v)
		return
	}
	u, err := h.app.st.Setup(r.Context(), name, pw)
	switch {
	case errors.Is(err, store.ErrSetupDone):
		http.Redirect(w, r, Root+"/login", http.StatusSeeOther)
		return
	case err != nil:
		v.Error = userMessage(err)
		h.render(w, http.StatusBadRequest, "setup", v)
		return
	}
	if h.startSession(w, r, u) {
		http.Redirect(w, r, Root+"/configs", http.StatusSeeOther)
	}
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if need, err := h.app.st.NeedsSetup(r.Context()); err == nil && need {
		http.Redirect(w, r, Root+"/setup", http.StatusSeeOther)
		return
	}
	v := h.view(r)
	v.Next = safeNext(r.URL.Query().Get("next"))
	h.render(w, http.StatusOK, "login", v)
}

// login checks the password and starts a new session (a new token at
// every login: a token planted before login is worthless).
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	if err := parseForm(w, r); err != nil {
		v.Error = "The form could not be read."
		h.render(w, http.StatusBadRequest, "login", v)
		return
	}
	v.Next = safeNext(r.PostForm.Get("next"))
	v.Name = strings.TrimSpace(r.PostForm.Get("username"))
	u, err := h.app.st.Login(r.Context(), v.Name, r.PostForm.Get("password"), clientAddr(r))
	if err != nil {
		status := http.StatusUnauthorized
		var te *store.ThrottledError
		switch {
		case errors.Is(err, store.ErrThrottled):
			status = http.StatusTooManyRequests
			if errors.As(err, &te) {
				w.Header().Set("Retry-After", strconv.Itoa(int(te.RetryAfter.Seconds())+1))
			}
		case errors.Is(err, store.ErrBlocked), errors.Is(err, store.ErrBadCredentials):
			status = http.StatusUnauthorized
		default:
			h.logger.Error("manager: login failed", zapErr(err))
			status = http.StatusInternalServerError
		}
		v.Error = userMessage(err)
		h.render(w, status, "login", v)
		return
	}
	if h.startSession(w, r, u) {
		http.Redirect(w, r, v.Next, http.StatusSeeOther)
	}
}

func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, u store.User) bool {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" && len(c.Value) <= 256 {
		_ = h.app.st.EndSession(r.Context(), c.Value)
	}
	tok, err := h.app.st.NewSession(r.Context(), u.ID, time.Duration(h.SessionTTL))
	if err != nil {
		h.logger.Error("manager: starting a session", zapErr(err))
		h.fail(w, r, http.StatusInternalServerError, "The database is unavailable.")
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: Root, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r), MaxAge: int(time.Duration(h.SessionTTL) / time.Second)})
	return true
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" && len(c.Value) <= 256 {
		_ = h.app.st.EndSession(r.Context(), c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: Root, MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r)})
	http.Redirect(w, r, Root+"/login", http.StatusSeeOther)
}

func (h *Handler) passwordPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, "password", h.view(r))
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	if err := parseForm(w, r); err != nil {
		v.Error = "The form could not be read."
		h.render(w, http.StatusBadRequest, "password", v)
		return
	}
	if r.PostForm.Get("new_password") != r.PostForm.Get("new_password2") {
		v.Error = "The two new passwords differ."
		h.render(w, http.StatusBadRequest, "password", v)
		return
	}
	err := h.app.st.ChangePassword(r.Context(), v.User.ID, r.PostForm.Get("old_password"), r.PostForm.Get("new_password"))
	if err != nil {
		v.Error = userMessage(err)
		h.render(w, http.StatusBadRequest, "password", v)
		return
	}
	// Changing the password ended every session of the user: this one
	// gets a new token.
	if h.startSession(w, r, *v.User) {
		v.Notice = "Your password is changed."
		h.render(w, http.StatusOK, "password", v)
	}
}

func (h *Handler) usersPage(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	h.renderUsers(w, r, v, http.StatusOK)
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, v *view, status int) {
	us, err := h.app.st.Users(r.Context())
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "The database is unavailable.")
		return
	}
	v.Users = us
	h.render(w, status, "users", v)
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	if err := parseForm(w, r); err != nil {
		v.Error = "The form could not be read."
		h.renderUsers(w, r, v, http.StatusBadRequest)
		return
	}
	role := store.Role(r.PostForm.Get("role"))
	if role != store.RoleAdmin {
		role = store.RoleUser
	}
	v.Name = strings.TrimSpace(r.PostForm.Get("username"))
	if _, err := h.app.st.CreateUser(r.Context(), v.Name, r.PostForm.Get("password"), role); err != nil {
		v.Error = userMessage(err)
		h.renderUsers(w, r, v, http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, Root+"/admin/users?done=user_created", http.StatusSeeOther)
}

// editUser sets a user's role and, when one is given, a new password.
func (h *Handler) editUser(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	id, ok := pathID(r, "id")
	if err := parseForm(w, r); err != nil || !ok {
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	ctx := r.Context()
	if _, err := h.app.st.User(ctx, id); err != nil {
		h.fail(w, r, http.StatusNotFound, "No such user.")
		return
	}
	if role := store.Role(r.PostForm.Get("role")); role == store.RoleAdmin || role == store.RoleUser {
		if id == v.User.ID && role != store.RoleAdmin {
			v.Error = "You cannot take the administrator role from yourself."
			h.renderUsers(w, r, v, http.StatusBadRequest)
			return
		}
		if err := h.app.st.SetRole(ctx, id, role); err != nil {
			v.Error = userMessage(err)
			h.renderUsers(w, r, v, http.StatusBadRequest)
			return
		}
	}
	if pw := r.PostForm.Get("password"); pw != "" {
		if err := h.app.st.ResetPassword(ctx, id, pw); err != nil {
			v.Error = userMessage(err)
			h.renderUsers(w, r, v, http.StatusBadRequest)
			return
		}
	}
	http.Redirect(w, r, Root+"/admin/users?done=user_saved", http.StatusSeeOther)
}

func (h *Handler) toggleBlock(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	id, ok := pathID(r, "id")
	if !ok {
		h.fail(w, r, http.StatusNotFound, "No such user.")
		return
	}
	u, err := h.app.st.User(r.Context(), id)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "No such user.")
		return
	}
	if id == v.User.ID {
		v.Error = "You cannot block yourself."
		h.renderUsers(w, r, v, http.StatusBadRequest)
		return
	}
	if err := h.app.st.SetBlocked(r.Context(), id, !u.Blocked); err != nil {
		v.Error = userMessage(err)
		h.renderUsers(w, r, v, http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, Root+"/admin/users?done=user_saved", http.StatusSeeOther)
}

// pathID reads a positive integer path value.
func pathID(r *http.Request, name string) (int64, bool) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return n, err == nil && n > 0
}

// userMessage turns a store error into words for the page; anything
// unexpected is a generic message (details stay in the log).
func userMessage(err error) string {
	switch {
	case errors.Is(err, store.ErrBadCredentials):
		return "Wrong user name or password."
	case errors.Is(err, store.ErrBlocked):
		return "This account is blocked."
	case errors.Is(err, store.ErrThrottled):
		return "Too many failed attempts. Try again later."
	case errors.Is(err, store.ErrExists):
		return "That name is taken."
	case errors.Is(err, store.ErrWeakPassword):
		return fmt.Sprintf("The password must be %d to %d characters long.", store.MinPasswordLen, store.MaxPasswordLen)
	case errors.Is(err, store.ErrNotFound):
		return "Not found."
	case errors.Is(err, store.ErrLastAdmin):
		return "The last active administrator cannot be demoted or blocked."
	case errors.Is(err, store.ErrInvalid):
		return "Invalid input: " + err.Error()
	case errors.Is(err, store.ErrConflict):
		return conflictMessage
	}
	var ve interface{ UserMessage() string }
	if errors.As(err, &ve) {
		return ve.UserMessage()
	}
	return "The request failed: " + err.Error()
}

// conflictMessage is shown when a config changed under an edit.
const conflictMessage = "This config was changed since you opened it. Your edit is kept below: review it and save again."

// noticeText is the confirmation shown after a redirect (?done=…).
func noticeText(done string) string {
	return map[string]string{
		"user_created": "User created.",
		"user_saved":   "User saved.",
		"saved":        "Saved.",
		"imported":     "Config imported.",
		"restored":     "Version restored: a new version was written.",
		"deleted":      "Deleted.",
		"project":      "Project saved.",
	}[done]
}

// clientAddr is the request's remote IP (the rate limit's address).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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
