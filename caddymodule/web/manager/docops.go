package manager

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
)

// emptyDoc is what a new config without a document starts as.
var emptyDoc = []byte("{\n  \"active_models\": {}\n}\n")

// docView is a stored document as the config page shows it: tokens
// redacted, every group and model, every provider field.
type docView struct {
	Groups []groupView
	JSON   string // the redacted document, for the JSON editor
	Marker string
}

type groupView struct {
	Name, Slug string
	Models     []modelView
}

type modelView struct {
	Group, Name, Slug string
	Active            bool
	Providers         []providerView
	New               providerView // the "add a provider" form
}

type providerView struct {
	Index   int
	ID      string
	Prefix  string // the form's element id prefix
	Summary string
	Values  []fieldView
	Extra   string
	Kept    bool // the form shows input kept after a refused save
}

type fieldView struct {
	Name, Type, Help string
	Enum             []string
	Value            string
	Set              bool
	Secret           bool
	Marker           string
}

var slugRE = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// slug makes an element id part of a name.
func slug(s string) string { return slugRE.ReplaceAllString(s, "_") }

// docView parses a stored document for the page. invalid is the router's
// validator's message ("" when it would load).
func (h *Handler) docView(stored []byte) (*docView, string, error) {
	d, err := doc.Parse(stored)
	if err != nil {
		return nil, "", fmt.Errorf("parsing the stored document: %w", err)
	}
	invalid := ""
	if err := d.Validate(); err != nil {
		invalid = err.Error()
	}
	red := d.Redacted()
	dv := &docView{JSON: string(red.JSON()), Marker: doc.TokenMarker}
	schema := doc.ProviderFields()
	byGroup := map[string]int{}
	for _, g := range red.Groups() {
		byGroup[g] = len(dv.Groups)
		dv.Groups = append(dv.Groups, groupView{Name: g, Slug: slug(g)})
	}
	for _, m := range red.Models() {
		mv := modelView{Group: m.Group, Name: m.Name, Slug: slug(m.Group + "-" + m.Name), Active: m.Active}
		for _, p := range m.Providers {
			mv.Providers = append(mv.Providers, providerForm(schema, mv.Slug, p))
		}
		mv.New = providerForm(schema, mv.Slug, doc.Provider{Index: -1})
		g := &dv.Groups[byGroup[m.Group]]
		g.Models = append(g.Models, mv)
	}
	return dv, invalid, nil
}

// providerForm describes one provider's form: the router's fields in the
// router's order, then the provider's other fields.
func providerForm(schema []doc.Field, modelSlug string, p doc.Provider) providerView {
	pv := providerView{Index: p.Index, ID: p.Get("id"), Prefix: fmt.Sprintf("p-%s-%d", modelSlug, p.Index)}
	if p.Index < 0 {
		pv.Prefix = "new-" + modelSlug
	}
	for _, f := range schema {
		fv := fieldView{Name: f.Name, Type: f.Type, Help: f.Help, Enum: f.Enum, Value: p.Get(f.Name), Set: p.Has(f.Name)}
		if f.Type == "secret" {
			switch fv.Value {
			case doc.TokenMarker: // a stored token: •••• with "Replace"
				fv.Secret, fv.Set, fv.Value, fv.Marker = true, true, "", doc.TokenMarker
			case "": // none yet
				fv.Secret, fv.Set = true, false
			default: // a {env.NAME} or {file.path} placeholder, shown as written
				fv.Type = "string"
			}
		}
		pv.Values = append(pv.Values, fv)
	}
	for _, f := range p.Fields {
		if !f.Known {
			pv.Values = append(pv.Values, fieldView{Name: f.Name, Type: "other", Help: "A field the router does not read; kept as it is.", Value: f.Text, Set: true})
		}
	}
	var parts []string
	for _, k := range []string{"api_type", "api_host", "model_path"} {
		if v := p.Get(k); v != "" {
			parts = append(parts, v)
		}
	}
	pv.Summary = strings.Join(parts, " · ")
	return pv
}

// importDoc parses an imported document (JSON or HuJSON) and seals its
// tokens; a syntax error names the line and column. Unless admin, a
// document with an {env.…} or {file.…} placeholder token is refused.
func (h *Handler) importDoc(data []byte, admin bool) ([]byte, error) {
	d, err := doc.Parse(data)
	if err != nil {
		var se *doc.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("The document is not valid JSON or HuJSON: line %d, column %d: %s", se.Line, se.Col, se.Msg)
		}
		return nil, fmt.Errorf("The document could not be read: %w", err)
	}
	if !admin {
		if err := secretRefError(doc.NewSecretRefs(d, nil, h.app.key)); err != nil {
			return nil, err
		}
	}
	if err := d.Seal(h.app.key); err != nil {
		return nil, fmt.Errorf("sealing the tokens: %w", err)
	}
	return d.JSON(), nil
}

// exportDoc is the models-config.json download: the document as the file
// the router reads, with tokens redacted (they never go back to the
// browser; {env.NAME} and {file.path} placeholders are kept).
func (h *Handler) exportDoc(stored []byte) ([]byte, error) {
	d, err := doc.Parse(stored)
	if err != nil {
		return nil, fmt.Errorf("parsing the stored document: %w", err)
	}
	return d.Redacted().JSON(), nil
}

// editDoc is a stored document opened for an edit.
type editDoc struct {
	*doc.Document
	stored *doc.Document
}

func (h *Handler) openEdit(stored []byte) (*editDoc, error) {
	d, err := doc.Parse(stored)
	if err != nil {
		return nil, fmt.Errorf("parsing the stored document: %w", err)
	}
	s, _ := doc.Parse(stored)
	return &editDoc{Document: d, stored: s}, nil
}

// seal puts back kept tokens, seals new ones and returns the bytes to save.
// Unless admin, a placeholder token added or changed, or sent to another
// api_host, is refused (errSecretRef): see secretRefError.
func (e *editDoc) seal(k *doc.Key, admin bool) ([]byte, error) {
	if err := e.Merge(e.stored); err != nil {
		return nil, err
	}
	if err := e.CheckKeptHosts(e.stored); err != nil {
		return nil, err
	}
	if !admin {
		if err := secretRefError(doc.NewSecretRefs(e.Document, e.stored, k)); err != nil {
			return nil, err
		}
	}
	if err := e.Seal(k); err != nil {
		return nil, fmt.Errorf("sealing the tokens: %w", err)
	}
	b := e.JSON()
	if len(b) > maxDoc {
		return nil, doc.ErrTooLarge
	}
	return b, nil
}

// secretRefErr is the refusal of a placeholder token to a non-admin.
type secretRefErr struct{ msg string }

func (e *secretRefErr) Error() string { return e.msg }

// secretRefError is the refusal shown to a non-admin whose document adds
// or changes an {env.…} or {file.…} placeholder token, or moves one to
// another api_host: the router would read its own environment or files
// and send the value to that host. nil when refs is empty.
func secretRefError(refs []doc.SecretRef) error {
	if len(refs) == 0 {
		return nil
	}
	r := refs[0]
	who := fmt.Sprintf("model %q, provider #%d", r.Model, r.Index)
	if r.ID != "" {
		who = fmt.Sprintf("model %q, provider %q", r.Model, r.ID)
	}
	return &secretRefErr{msg: "Not saved: " + who + ": only an administrator may set an api_token that holds an {env.…} or {file.…} placeholder, or change the api_host of a provider whose token holds one. Enter the token itself, or ask an administrator."}
}

// diffLine is a line of the diff view.
type diffLine struct {
	Class, Mark, Text string
}

// diff compares two stored documents as exported (tokens redacted).
func (h *Handler) diff(a, b []byte) ([]diffLine, error) {
	ea, err := h.exportDoc(a)
	if err != nil {
		return nil, err
	}
	eb, err := h.exportDoc(b)
	if err != nil {
		return nil, err
	}
	var out []diffLine
	changed := false
	for _, l := range doc.Diff(ea, eb) {
		dl := diffLine{Class: "same", Mark: " ", Text: l.Text}
		switch l.Op {
		case doc.Insert:
			dl.Class, dl.Mark, changed = "add", "+", true
		case doc.Delete:
			dl.Class, dl.Mark, changed = "del", "-", true
		}
		out = append(out, dl)
	}
	if !changed {
		return nil, nil
	}
	return out, nil
}

// keepProviderInput puts what the user typed in a provider form that was
// refused (a conflict, a bad value) back into that form, opened. Tokens
// are not put back: the field stays empty (or ••••) to be typed again.
func keepProviderInput(dv *docView, v *view) {
	if v.Form == nil || v.FormFor != "provider" {
		return
	}
	g, m, idx := v.Form.Get("group"), v.Form.Get("model"), v.Form.Get("index")
	for gi := range dv.Groups {
		for mi := range dv.Groups[gi].Models {
			mv := &dv.Groups[gi].Models[mi]
			if mv.Group != g || mv.Name != m {
				continue
			}
			pv := &mv.New
			for pi := range mv.Providers {
				if fmt.Sprint(mv.Providers[pi].Index) == idx {
					pv = &mv.Providers[pi]
				}
			}
			if fmt.Sprint(pv.Index) != idx {
				return
			}
			pv.Kept = true
			hostChanged := false
			for fi := range pv.Values {
				f := &pv.Values[fi]
				vals, ok := v.Form[f.Name]
				if !ok {
					continue
				}
				if f.Secret {
					// A placeholder is no secret: it names one. Put it
					// back as typed, so a refusal keeps the input.
					if doc.HasSecretPlaceholder(vals[0]) {
						f.Secret, f.Type, f.Value, f.Set, f.Marker = false, "string", vals[0], true, ""
					}
					continue
				}
				if f.Name == "api_host" && f.Value != vals[0] {
					hostChanged = true
				}
				f.Value = vals[0]
				f.Set = f.Value != ""
			}
			if hostChanged {
				// The hidden token is not kept for another host: its
				// field opens empty, to be typed again.
				for fi := range pv.Values {
					if f := &pv.Values[fi]; f.Secret && f.Set {
						f.Set, f.Marker = false, ""
					}
				}
			}
		}
	}
}
