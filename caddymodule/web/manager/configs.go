package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store"
)

// maxDoc is the largest document imported or saved (the store's bound).
const maxDoc = store.MaxDocSize

// maxUploadBody bounds an import request: the document, pasted or as a
// file, plus the form around it. A larger body is refused with 413 while
// it is read, never read whole.
const maxUploadBody = 2*maxDoc + 64<<10

// configRow is a line of the configs list.
type configRow struct {
	store.Config
	Active bool
}

func (h *Handler) configsPage(w http.ResponseWriter, r *http.Request) {
	h.renderConfigs(w, r, h.view(r), http.StatusOK)
}

func (h *Handler) renderConfigs(w http.ResponseWriter, r *http.Request, v *view, status int) {
	ctx := r.Context()
	u := *v.User
	def, err := h.app.st.DefaultProject(ctx, u)
	if err != nil {
		h.dbFail(w, r, err)
		return
	}
	ps, err := h.app.st.Projects(ctx, u)
	if err != nil {
		h.dbFail(w, r, err)
		return
	}
	v.Projects, v.Project = ps, def
	if id, err := strconv.ParseInt(r.URL.Query().Get("project"), 10, 64); err == nil {
		p, err := h.app.st.Project(ctx, u, id)
		if err != nil {
			h.fail(w, r, http.StatusNotFound, "No such project.")
			return
		}
		v.Project = p
	}
	cs, err := h.app.st.Configs(ctx, u, v.Project.ID)
	if err != nil {
		h.dbFail(w, r, err)
		return
	}
	if a, ok, err := h.app.st.Active(ctx); err == nil && ok {
		v.Active = &a
	}
	for _, c := range cs {
		v.Configs = append(v.Configs, configRow{Config: c, Active: v.Active != nil && v.Active.ConfigID == c.ID})
	}
	h.render(w, status, "configs", v)
}

func (h *Handler) createProject(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	p, err := h.app.st.CreateProject(r.Context(), *v.User, strings.TrimSpace(r.PostForm.Get("name")))
	if err != nil {
		v.Error = userMessage(err)
		h.renderConfigs(w, r, v, http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/configs?project=%d&done=project", Root, p.ID), http.StatusSeeOther)
}

// selectProject is the original's POST /projects/select/<id>: the
// configs list of that project.
func (h *Handler) selectProject(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		h.fail(w, r, http.StatusNotFound, "No such project.")
		return
	}
	if _, err := h.app.st.Project(r.Context(), userOf(r), id); err != nil {
		h.dbFail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/configs?project=%d", Root, id), http.StatusSeeOther)
}

func (h *Handler) renameProject(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if err := parseForm(w, r); err != nil || !ok {
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	p, err := h.app.st.RenameProject(r.Context(), userOf(r), id, strings.TrimSpace(r.PostForm.Get("name")))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.dbFail(w, r, err)
			return
		}
		v := h.view(r)
		v.Error = userMessage(err)
		h.renderConfigs(w, r, v, http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/configs?project=%d&done=project", Root, p.ID), http.StatusSeeOther)
}

// deleteProject deletes an empty project other than the default one.
func (h *Handler) deleteProject(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		h.fail(w, r, http.StatusNotFound, "No such project.")
		return
	}
	if err := h.app.st.DeleteProject(r.Context(), userOf(r), id); err != nil {
		if errors.Is(err, store.ErrConflict) {
			v := h.view(r)
			v.Error = "Only an empty project other than your default one can be deleted."
			h.renderConfigs(w, r, v, http.StatusConflict)
			return
		}
		h.dbFail(w, r, err)
		return
	}
	http.Redirect(w, r, Root+"/configs?done=deleted", http.StatusSeeOther)
}

// dbFail answers an unexpected store error; ErrNotFound is a 404.
func (h *Handler) dbFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, "Not found.")
		return
	}
	h.logger.Error("manager: database", zapErr(err))
	h.fail(w, r, http.StatusInternalServerError, "The database is unavailable.")
}

func (h *Handler) importPage(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	v.Name = r.URL.Query().Get("name")
	if p, err := strconv.ParseInt(r.URL.Query().Get("project"), 10, 64); err == nil {
		v.Project.ID = p
	}
	h.render(w, http.StatusOK, "import", v)
}

// importConfig is POST /configs/import and /configs/new: a name and a
// document — a file (multipart "file") or pasted JSON/HuJSON ("json");
// neither makes an empty config.
func (h *Handler) importConfig(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	u := *v.User
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBody)
	data, err := readImport(r)
	v.Name = strings.TrimSpace(r.FormValue("name"))
	v.Note = r.FormValue("note")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errTooLarge) {
			v.Error = fmt.Sprintf("The document is larger than the limit of %d MiB.", maxDoc>>20)
			h.render(w, http.StatusRequestEntityTooLarge, "import", v)
			return
		}
		v.Error = "The form could not be read."
		h.render(w, http.StatusBadRequest, "import", v)
		return
	}
	if len(data) == 0 {
		data = emptyDoc
	}
	v.Text = string(data)
	sealed, err := h.importDoc(data, v.IsAdmin())
	if err != nil {
		v.Error = err.Error()
		status := http.StatusBadRequest
		if _, ok := err.(*secretRefErr); ok {
			status = http.StatusForbidden
		}
		h.render(w, status, "import", v)
		return
	}
	if v.Name == "" {
		v.Name = "models-config " + time.Now().UTC().Format("2006-01-02 15:04")
	}
	pid, _ := strconv.ParseInt(r.FormValue("project"), 10, 64)
	ctx := r.Context()
	if pid == 0 {
		p, err := h.app.st.DefaultProject(ctx, u)
		if err != nil {
			h.dbFail(w, r, err)
			return
		}
		pid = p.ID
	} else if _, err := h.app.st.Project(ctx, u, pid); err != nil {
		h.fail(w, r, http.StatusNotFound, "No such project.")
		return
	}
	note := v.Note
	if note == "" {
		note = "imported"
	}
	c, err := h.app.st.CreateConfig(ctx, u, pid, v.Name, sealed, note)
	if err != nil {
		v.Error = userMessage(err)
		h.render(w, http.StatusBadRequest, "import", v)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/configs/%d?done=imported", Root, c.ID), http.StatusSeeOther)
}

var errTooLarge = errors.New("document too large")

// readImport returns the uploaded file's bytes, else the pasted text;
// bounded by maxDoc either way (the body is bounded by the caller).
func readImport(r *http.Request) ([]byte, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("reading the form: %w", err)
		}
		return pasted(r.PostForm.Get("json"))
	}
	// Parts beyond 1 MiB go to temporary files, never all into memory.
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		return nil, fmt.Errorf("reading the form: %w", err)
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	if f, fh, err := r.FormFile("file"); err == nil {
		defer f.Close()
		if fh.Size > maxDoc {
			return nil, errTooLarge
		}
		b, err := io.ReadAll(io.LimitReader(f, maxDoc+1))
		if err != nil {
			return nil, fmt.Errorf("reading the file: %w", err)
		}
		if len(b) > maxDoc {
			return nil, errTooLarge
		}
		if len(strings.TrimSpace(string(b))) > 0 {
			return b, nil
		}
	}
	return pasted(r.FormValue("json"))
}

func pasted(s string) ([]byte, error) {
	if len(s) > maxDoc {
		return nil, errTooLarge
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return []byte(s), nil
}

// config loads the config named by the path for the logged-in user; a
// config the user may not see is "not found", as one that does not exist.
func (h *Handler) config(w http.ResponseWriter, r *http.Request, isPage bool) (store.Config, bool) {
	id, ok := pathID(r, "id")
	if !ok {
		h.failAny(w, r, isPage, http.StatusNotFound, "No such config.")
		return store.Config{}, false
	}
	c, err := h.app.st.Config(r.Context(), userOf(r), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.failAny(w, r, isPage, http.StatusNotFound, "No such config.")
		} else {
			h.logger.Error("manager: database", zapErr(err))
			h.failAny(w, r, isPage, http.StatusInternalServerError, "The database is unavailable.")
		}
		return store.Config{}, false
	}
	return c, true
}

func (h *Handler) configPage(w http.ResponseWriter, r *http.Request) {
	c, ok := h.config(w, r, true)
	if !ok {
		return
	}
	h.renderConfig(w, r, h.view(r), c, http.StatusOK)
}

// renderConfig shows a config: its document with tokens redacted, the
// router's verdict on it, and the forms that edit it.
func (h *Handler) renderConfig(w http.ResponseWriter, r *http.Request, v *view, c store.Config, status int) {
	v.Config = c
	dv, invalid, err := h.docView(c.Doc)
	if err != nil {
		h.logger.Error("manager: a stored document does not parse", zapErr(err))
		h.fail(w, r, http.StatusInternalServerError, "The stored document is damaged.")
		return
	}
	v.Doc, v.Invalid = dv, invalid
	keepProviderInput(dv, v)
	if a, ok, err := h.app.st.Active(r.Context()); err == nil && ok && a.ConfigID == c.ID {
		v.Active = &a
	}
	h.render(w, status, "config", v)
}

func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	c, ok := h.config(w, r, true)
	if !ok {
		return
	}
	b, err := h.exportDoc(c.Doc)
	if err != nil {
		h.logger.Error("manager: exporting", zapErr(err))
		h.fail(w, r, http.StatusInternalServerError, "The stored document is damaged.")
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="models-config.json"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// edit applies fn to the config's document and saves it as a new version
// on top of the form's base revision. A revision that moved is a conflict:
// nothing is written and the page comes back with the user's input kept.
func (h *Handler) edit(w http.ResponseWriter, r *http.Request, formFor string, fn func(c store.Config, d *editDoc) (name string, err error)) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBody)
	v := h.view(r)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The document is larger than the limit of %d MiB.", maxDoc>>20))
			return
		}
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	c, ok := h.config(w, r, true)
	if !ok {
		return
	}
	base, err := strconv.ParseInt(r.PostForm.Get("revision"), 10, 64)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "The form has no revision.")
		return
	}
	v.Form, v.FormFor = r.PostForm, formFor
	keep := func(msg string, status int, cur store.Config) {
		v.Error = msg
		h.renderConfig(w, r, v, cur, status)
	}
	if base != c.Revision {
		keep(conflictMessage, http.StatusConflict, c)
		return
	}
	d, err := h.openEdit(c.Doc)
	if err != nil {
		keep(err.Error(), http.StatusInternalServerError, c)
		return
	}
	name, err := fn(c, d)
	if err != nil {
		keep(err.Error(), http.StatusBadRequest, c)
		return
	}
	if name == "" {
		name = c.Name
	}
	sealed, err := d.seal(h.app.key, v.IsAdmin())
	if err != nil {
		status := http.StatusBadRequest
		if _, ok := err.(*secretRefErr); ok {
			status = http.StatusForbidden
		}
		keep(err.Error(), status, c)
		return
	}
	note := strings.TrimSpace(r.PostForm.Get("note"))
	if note == "" {
		note = formFor
	}
	saved, err := h.app.st.SaveConfig(r.Context(), userOf(r), c.ID, base, name, sealed, note)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			cur, err2 := h.app.st.Config(r.Context(), userOf(r), c.ID)
			if err2 == nil {
				c = cur
			}
			keep(conflictMessage, http.StatusConflict, c)
			return
		}
		keep(userMessage(err), http.StatusBadRequest, c)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/configs/%d?done=saved#%s", Root, saved.ID, anchor(formFor, r)), http.StatusSeeOther)
}

// anchor is where the page scrolls back to after a save.
func anchor(formFor string, r *http.Request) string {
	if g, m := r.PostForm.Get("group"), r.PostForm.Get("model"); g != "" && m != "" {
		return "model-" + slug(g+"-"+m)
	}
	return "top"
}

func (h *Handler) deleteConfig(w http.ResponseWriter, r *http.Request) {
	c, ok := h.config(w, r, true)
	if !ok {
		return
	}
	if err := h.app.st.DeleteConfig(r.Context(), userOf(r), c.ID); err != nil {
		h.dbFail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/configs?project=%d&done=deleted", Root, c.ProjectID), http.StatusSeeOther)
}

func (h *Handler) versionsPage(w http.ResponseWriter, r *http.Request) {
	c, ok := h.config(w, r, true)
	if !ok {
		return
	}
	vs, err := h.app.st.Versions(r.Context(), userOf(r), c.ID)
	if err != nil {
		h.dbFail(w, r, err)
		return
	}
	if wantsJSON(r) {
		out := make([]map[string]any, 0, len(vs))
		for _, x := range vs {
			out = append(out, map[string]any{"version": x.Number, "created_at": x.Created.UTC().Format(time.RFC3339), "note": x.Note, "author": x.Author})
		}
		h.writeJSON(w, http.StatusOK, out)
		return
	}
	v := h.view(r)
	v.Config, v.Versions = c, vs
	h.render(w, http.StatusOK, "versions", v)
}

func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// diffPage shows the line diff of the exported documents of versions a
// and b (tokens redacted).
func (h *Handler) diffPage(w http.ResponseWriter, r *http.Request) {
	c, ok := h.config(w, r, true)
	if !ok {
		return
	}
	a, err1 := strconv.ParseInt(r.URL.Query().Get("a"), 10, 64)
	b, err2 := strconv.ParseInt(r.URL.Query().Get("b"), 10, 64)
	if err1 != nil || err2 != nil {
		h.fail(w, r, http.StatusBadRequest, "Choose two versions.")
		return
	}
	ctx, u := r.Context(), userOf(r)
	va, err := h.app.st.Version(ctx, u, c.ID, a)
	if err != nil {
		h.dbFail(w, r, err)
		return
	}
	vb, err := h.app.st.Version(ctx, u, c.ID, b)
	if err != nil {
		h.dbFail(w, r, err)
		return
	}
	lines, err := h.diff(va.Doc, vb.Doc)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "The stored document is damaged.")
		return
	}
	v := h.view(r)
	v.Config, v.A, v.B, v.Diff = c, a, b, lines
	h.render(w, http.StatusOK, "diff", v)
}

func (h *Handler) restore(w http.ResponseWriter, r *http.Request) {
	c, ok := h.config(w, r, true)
	if !ok {
		return
	}
	n, ok := pathID(r, "v")
	if !ok {
		h.fail(w, r, http.StatusNotFound, "No such version.")
		return
	}
	if err := h.mayRestore(r.Context(), userOf(r), c, n); err != nil {
		var sr *secretRefErr
		if !errors.As(err, &sr) {
			h.dbFail(w, r, err)
			return
		}
		vs, err2 := h.app.st.Versions(r.Context(), userOf(r), c.ID)
		if err2 != nil {
			h.dbFail(w, r, err2)
			return
		}
		v := h.view(r)
		v.Config, v.Versions, v.Error = c, vs, fmt.Sprintf("Version %d was not restored. %s", n, strings.TrimPrefix(sr.Error(), "Not saved: "))
		h.render(w, http.StatusForbidden, "versions", v)
		return
	}
	if _, err := h.app.st.Restore(r.Context(), userOf(r), c.ID, n, fmt.Sprintf("restored version %d", n)); err != nil {
		h.dbFail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/configs/%d/versions?done=restored", Root, c.ID), http.StatusSeeOther)
}

// mayRestore refuses (*secretRefErr) a non-admin's restore of version n
// when that version has {env.…} or {file.…} placeholder tokens the current
// document does not send to the same api_host, unless an administrator
// wrote that version: placeholders come only from administrators.
func (h *Handler) mayRestore(ctx context.Context, u store.User, c store.Config, n int64) error {
	if u.Role == store.RoleAdmin {
		return nil
	}
	ver, err := h.app.st.Version(ctx, u, c.ID, n)
	if err != nil {
		return err
	}
	vd, err := doc.Parse(ver.Doc)
	if err != nil {
		return fmt.Errorf("parsing version %d: %w", n, err)
	}
	cd, err := doc.Parse(c.Doc)
	if err != nil {
		return fmt.Errorf("parsing the stored document: %w", err)
	}
	refs := doc.NewSecretRefs(vd, cd, h.app.key)
	if len(refs) == 0 {
		return nil
	}
	users, err := h.app.st.Users(ctx)
	if err != nil {
		return err
	}
	for _, x := range users {
		if x.Name == ver.Author && x.Role == store.RoleAdmin {
			return nil
		}
	}
	return secretRefError(refs)
}
