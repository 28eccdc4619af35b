package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/activate"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store"
)

// editConfig is POST /configs/{id}/edit: the name and, for every group,
// the active models (checkboxes "<group>[]", as the original's form).
func (h *Handler) editConfig(w http.ResponseWriter, r *http.Request) {
	h.edit(w, r, "edit", func(c store.Config, d *editDoc) (string, error) {
		for _, g := range d.Groups() {
			if err := d.SetActive(g, r.PostForm[g+"[]"]); err != nil {
				return "", err
			}
		}
		defaultNote(r, "name and active models")
		name := strings.TrimSpace(r.PostForm.Get("name"))
		if name == "" {
			return "", errors.New("A config needs a name.")
		}
		return name, nil
	})
}

// editJSON is POST /configs/{id}/json: the whole document replaced by the
// edited text; a token left as the marker keeps its stored value.
func (h *Handler) editJSON(w http.ResponseWriter, r *http.Request) {
	h.edit(w, r, "json", func(c store.Config, d *editDoc) (string, error) {
		nd, err := doc.Parse([]byte(r.PostForm.Get("json")))
		if err != nil {
			var se *doc.SyntaxError
			if errors.As(err, &se) {
				return "", fmt.Errorf("The document is not valid JSON or HuJSON: line %d, column %d: %s", se.Line, se.Col, se.Msg)
			}
			return "", err
		}
		d.Document = nd
		defaultNote(r, "document edited as JSON")
		return "", nil
	})
}

func (h *Handler) addModel(w http.ResponseWriter, r *http.Request) {
	h.edit(w, r, "model", func(c store.Config, d *editDoc) (string, error) {
		g, name := strings.TrimSpace(r.PostForm.Get("group")), strings.TrimSpace(r.PostForm.Get("name"))
		if g == "" || g == doc.ActiveKey {
			return "", errors.New("Choose a group name (not active_models).")
		}
		if _, ok := d.Model(g, name); ok {
			return "", fmt.Errorf("Model %q already exists in %s.", name, g)
		}
		r.PostForm.Set("model", name)
		defaultNote(r, fmt.Sprintf("model %s added to %s", name, g))
		return "", d.SetModel(g, name)
	})
}

func (h *Handler) deleteModel(w http.ResponseWriter, r *http.Request) {
	h.edit(w, r, "model", func(c store.Config, d *editDoc) (string, error) {
		g, name := r.PostForm.Get("group"), r.PostForm.Get("model")
		r.PostForm.Del("model")
		defaultNote(r, fmt.Sprintf("model %s deleted from %s", name, g))
		return "", d.DeleteModel(g, name)
	})
}

// saveProvider is POST /configs/{id}/providers/save: provider index of
// model (group, model) from the form's fields, or a new one (index -1).
// A field emptied is removed; an api_token left hidden keeps its value.
func (h *Handler) saveProvider(w http.ResponseWriter, r *http.Request) {
	h.edit(w, r, "provider", func(c store.Config, d *editDoc) (string, error) {
		g, m := r.PostForm.Get("group"), r.PostForm.Get("model")
		i, err := strconv.Atoi(r.PostForm.Get("index"))
		if err != nil {
			return "", errors.New("The form names no provider.")
		}
		model, ok := d.Model(g, m)
		if !ok {
			return "", fmt.Errorf("Model %q is not in group %s any more.", m, g)
		}
		var cur doc.Provider
		if i >= 0 {
			if i >= len(model.Providers) {
				return "", errors.New("This provider is not there any more.")
			}
			cur = model.Providers[i]
		}
		fields := doc.Fields{}
		var unset []string
		names := map[string]bool{}
		for _, f := range doc.ProviderFields() {
			names[f.Name] = true
		}
		for _, f := range cur.Fields {
			names[f.Name] = true
		}
		for name := range names {
			vals, sent := r.PostForm[name]
			if !sent {
				continue
			}
			if r.PostForm.Get(name+"__keep") == "1" {
				continue // the stored token, not replaced
			}
			v := vals[0]
			if v == "" && cur.Has(name) {
				unset = append(unset, name)
				continue
			}
			if v == "" && i < 0 {
				continue
			}
			fields[name] = v
		}
		if i < 0 {
			defaultNote(r, fmt.Sprintf("provider %s added to %s", fields["id"], m))
			_, err := d.AddProvider(g, m, fields)
			return "", err
		}
		defaultNote(r, fmt.Sprintf("provider %s of %s changed", cur.Get("id"), m))
		if err := d.SetProvider(g, m, i, fields); err != nil {
			return "", err
		}
		for _, name := range unset {
			if err := d.UnsetField(g, m, i, name); err != nil {
				return "", err
			}
		}
		return "", nil
	})
}

func (h *Handler) deleteProvider(w http.ResponseWriter, r *http.Request) {
	h.edit(w, r, "provider", func(c store.Config, d *editDoc) (string, error) {
		i, err := strconv.Atoi(r.PostForm.Get("index"))
		if err != nil {
			return "", errors.New("The form names no provider.")
		}
		defaultNote(r, fmt.Sprintf("provider #%d of %s deleted", i, r.PostForm.Get("model")))
		return "", d.DeleteProvider(r.PostForm.Get("group"), r.PostForm.Get("model"), i)
	})
}

// reorderRequest is the page's POST /configs/{id}/providers/reorder: the
// providers' current indexes in their new order, as the original's
// {"order": [...]}.
type reorderRequest struct {
	Group    string `json:"group"`
	Model    string `json:"model"`
	Order    []int  `json:"order"`
	Revision int64  `json:"revision"`
}

func (h *Handler) reorder(w http.ResponseWriter, r *http.Request) {
	var req reorderRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxForm)).Decode(&req); err != nil {
		h.jsonError(w, http.StatusBadRequest, "The request is not the expected JSON.")
		return
	}
	c, ok := h.config(w, r, false)
	if !ok {
		return
	}
	if req.Revision != c.Revision {
		h.jsonError(w, http.StatusConflict, conflictMessage)
		return
	}
	d, err := h.openEdit(c.Doc)
	if err != nil {
		h.jsonError(w, http.StatusInternalServerError, "The stored document is damaged.")
		return
	}
	m, ok := d.Model(req.Group, req.Model)
	if !ok {
		h.jsonError(w, http.StatusNotFound, "No such model.")
		return
	}
	if !isPermutation(req.Order, len(m.Providers)) {
		h.jsonError(w, http.StatusBadRequest, "The order must list every provider once.")
		return
	}
	if err := applyOrder(d.Document, req.Group, req.Model, req.Order); err != nil {
		h.jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	sealed, err := d.seal(h.app.key, userOf(r).Role == store.RoleAdmin)
	if err != nil {
		h.jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	saved, err := h.app.st.SaveConfig(r.Context(), userOf(r), c.ID, req.Revision, c.Name, sealed,
		fmt.Sprintf("providers of %s reordered", req.Model))
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			h.jsonError(w, http.StatusConflict, conflictMessage)
			return
		}
		h.logger.Error("manager: saving a reorder", zapErr(err))
		h.jsonError(w, http.StatusInternalServerError, userMessage(err))
		return
	}
	h.writeJSON(w, http.StatusOK, map[string]any{"ok": true, "revision": saved.Revision})
}

// applyOrder puts the providers of a model in order (their current
// indexes in the new order) with MoveProvider.
func applyOrder(d *doc.Document, group, model string, order []int) error {
	at := make([]int, len(order)) // at[current place] = original index
	for i := range at {
		at[i] = i
	}
	for k, orig := range order {
		from := slices.Index(at, orig)
		if from == k {
			continue
		}
		if err := d.MoveProvider(group, model, from, k); err != nil {
			return err
		}
		at = slices.Insert(slices.Delete(at, from, from+1), k, orig)
	}
	return nil
}

func isPermutation(order []int, n int) bool {
	if len(order) != n {
		return false
	}
	seen := make([]bool, n)
	for _, i := range order {
		if i < 0 || i >= n || seen[i] {
			return false
		}
		seen[i] = true
	}
	return true
}

// testProvider is POST /configs/{id}/providers/test (admins only, checked
// by the route): the provider's model list at its own api_host, answered
// as status and latency only.
func (h *Handler) testProvider(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Group string `json:"group"`
		Model string `json:"model"`
		Index int    `json:"index"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxForm)).Decode(&req); err != nil {
		h.jsonError(w, http.StatusBadRequest, "The request is not the expected JSON.")
		return
	}
	c, ok := h.config(w, r, false)
	if !ok {
		return
	}
	d, err := doc.Parse(c.Doc)
	if err == nil {
		err = d.Open(h.app.key)
	}
	if err != nil {
		h.jsonError(w, http.StatusInternalServerError, "The stored document is damaged.")
		return
	}
	m, ok := d.Model(req.Group, req.Model)
	if !ok || req.Index < 0 || req.Index >= len(m.Providers) {
		h.jsonError(w, http.StatusNotFound, "No such provider.")
		return
	}
	res, err := activate.TestProvider(r.Context(), m.Providers[req.Index])
	if err != nil {
		h.jsonError(w, http.StatusBadGateway, err.Error())
		return
	}
	h.writeJSON(w, http.StatusOK, map[string]any{"status": res.Status, "latency_ms": res.Latency.Milliseconds()})
}

// activate is POST /configs/{id}/activate: the config's current revision
// (the form's, which must still be current) becomes what the router
// serves. The router's validator decides first; a refusal shows its
// message and changes nothing. Then the activation is recorded (every
// instance of a fleet follows it) and applied here; the page shows when it
// took effect.
func (h *Handler) activate(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	c, ok := h.config(w, r, true)
	if !ok {
		return
	}
	if rev, err := strconv.ParseInt(r.PostForm.Get("revision"), 10, 64); err == nil && rev != c.Revision {
		v.Error = conflictMessage
		h.renderConfig(w, r, v, c, http.StatusConflict)
		return
	}
	d, err := doc.Parse(c.Doc)
	if err == nil {
		err = d.Open(h.app.key)
	}
	if err == nil {
		var warnings []*config.Error
		warnings, err = d.Check()
		if err == nil && h.strict && len(warnings) > 0 {
			// A strict router refuses what others only warn about: check
			// before the activation is recorded.
			err = warnings[0]
		}
	}
	if err != nil {
		v.Error = "Not activated: the router refuses this config: " + err.Error()
		h.renderConfig(w, r, v, c, http.StatusUnprocessableEntity)
		return
	}
	start := time.Now()
	act, err := h.app.st.Activate(r.Context(), userOf(r), c.ID, c.Revision)
	if err != nil {
		h.dbFail(w, r, err)
		return
	}
	if err := h.apply(r.Context(), act.Doc); err != nil {
		var ve *activate.ValidationError
		if errors.As(err, &ve) {
			v.Error = "Not activated: " + err.Error()
		} else {
			h.logger.Error("manager: applying the config", zapErr(err))
			v.Error = "Recorded as active, but this router could not apply it: " + err.Error()
		}
		h.renderConfig(w, r, v, c, http.StatusBadGateway)
		return
	}
	took := time.Since(start)
	v.Notice = fmt.Sprintf("Activated: revision %d took effect at %s (%d ms).", c.Revision,
		time.Now().UTC().Format("15:04:05 UTC"), took.Milliseconds())
	h.renderConfig(w, r, v, c, http.StatusOK)
}

// defaultNote sets the version note when the form left it empty.
func defaultNote(r *http.Request, note string) {
	if strings.TrimSpace(r.PostForm.Get("note")) == "" {
		r.PostForm.Set("note", note)
	}
}

// apply applies an activated document here. The fleet follower of this
// process applies the same activation at the same time (at once on
// PostgreSQL); each reload restarts Caddy's admin endpoint, which may cut
// the other's request short. So a failure that is not the router's
// refusal is retried a few times: Apply does nothing when the document is
// already served.
func (h *Handler) apply(ctx context.Context, data []byte) error {
	var err error
	for attempt := 1; ; attempt++ {
		if _, err = h.applier.Apply(ctx, data); err == nil {
			return nil
		}
		var ve *activate.ValidationError
		if errors.As(err, &ve) || errors.Is(err, activate.ErrCannotApply) || attempt == 4 {
			return err
		}
		t := time.NewTimer(time.Duration(attempt) * 250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
