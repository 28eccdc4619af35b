package doc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/llmrouter/llm-router/caddymodule/config"
)

// ErrNotFound is returned by an edit whose group, model or provider does not
// exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when a new name is already taken.
var ErrExists = errors.New("already exists")

// Kind is the JSON kind of a field's value.
type Kind int

// Kinds of field values.
const (
	KindString Kind = iota
	KindNumber
	KindBool
	KindNull
	KindJSON // an object or array, edited as JSON text
)

// FieldValue is one field of a provider (or model) as a form shows it.
type FieldValue struct {
	// Name is the JSON key.
	Name string
	// Text is the value as form text: a string as is, a number as written,
	// true/false, "" for null, compact JSON for an object or array.
	Text string
	// Kind is the JSON kind of the value.
	Kind Kind
	// Known tells whether the router reads the field (ProviderFields).
	Known bool
}

// Provider is one provider object: every field in document order.
type Provider struct {
	// Index is the provider's place in the model's providers list.
	Index int
	// Fields are the provider's fields in document order, unknown ones too.
	Fields []FieldValue
}

// Get returns the form text of field name, "" when absent.
func (p Provider) Get(name string) string {
	for _, f := range p.Fields {
		if f.Name == name {
			return f.Text
		}
	}
	return ""
}

// Has tells whether the provider has field name.
func (p Provider) Has(name string) bool {
	return slices.ContainsFunc(p.Fields, func(f FieldValue) bool { return f.Name == name })
}

// Model is one model of a group.
type Model struct {
	// Group is the top-level group the model is defined in.
	Group string
	// Name is the logical model name.
	Name string
	// Active tells whether active_models lists the model for its group.
	Active bool
	// Providers are the model's providers in order.
	Providers []Provider
	// Extra are the model's other fields (providers_sleep, unknown ones).
	Extra []FieldValue
}

// Field describes a provider field of the router's schema, for the form.
type Field struct {
	// Name is the JSON key.
	Name string
	// Type is "string", "url", "enum", "secret", "number", "integer",
	// "bool" or "duration".
	Type string
	// Enum lists the allowed values of an enum.
	Enum []string
	// Required tells whether the router refuses a provider without it.
	Required bool
	// Help is one line for the form.
	Help string
}

// schema is the form description of every field the router reads; the
// names and their order come from caddymodule/config.
var schema = map[string]Field{
	"id":           {Type: "string", Required: true, Help: "Unique name of this provider across all active models."},
	"api_host":     {Type: "url", Required: true, Help: "Base URL of the server, e.g. http://10.0.0.5:8000."},
	"api_type":     {Type: "enum", Required: true, Help: "Wire protocol the server speaks."},
	"api_token":    {Type: "secret", Help: "Sent as the provider credential; stored encrypted, or a {env.NAME} / {file.path} placeholder."},
	"model_path":   {Type: "string", Help: "Model name sent upstream; empty sends the logical name."},
	"weight":       {Type: "number", Help: "Relative share for the weighted strategies (default 1)."},
	"input_size":   {Type: "integer", Help: "Context length shown by the listing endpoints."},
	"keep_alive":   {Type: "duration", Help: "Idle keep-alive interval, e.g. 35m (first_available_optim)."},
	"tool_calling": {Type: "bool", Help: "The provider accepts tool definitions."},
	"is_embedding": {Type: "bool", Help: "An embedding model."},
}

// ProviderFields returns the router's provider schema for the form, in the
// router's order; api_type's Enum is every type the router accepts.
func ProviderFields() []Field {
	names := config.ProviderFieldNames()
	out := make([]Field, 0, len(names))
	for _, n := range names {
		f, ok := schema[n]
		if !ok {
			f = Field{Type: "string"}
		}
		f.Name = n
		if n == "api_type" {
			f.Enum = slices.Clone(config.KnownAPITypes)
		}
		out = append(out, f)
	}
	return out
}

func fieldType(name string) (string, bool) {
	f, ok := schema[name]
	return f.Type, ok
}

func known(name string) bool { return slices.Contains(config.ProviderFieldNames(), name) }

// Groups returns every top-level model group in document order: each key
// but active_models whose value is an object, whatever its name.
func (d *Document) Groups() []string {
	var out []string
	for _, k := range d.root.keys {
		if k == ActiveKey {
			continue
		}
		if _, ok := d.root.vals[k].(*object); ok {
			out = append(out, k)
		}
	}
	return out
}

// Models returns every model of every group, in document order.
func (d *Document) Models() []Model {
	var out []Model
	for _, g := range d.Groups() {
		grp := d.root.vals[g].(*object)
		active := d.ActiveModels(g)
		for _, name := range grp.keys {
			m := Model{Group: g, Name: name, Active: slices.Contains(active, name)}
			if mo, ok := grp.vals[name].(*object); ok {
				for _, k := range mo.keys {
					if k == "providers" {
						if list, ok := mo.vals[k].([]any); ok {
							for i, p := range list {
								m.Providers = append(m.Providers, providerView(i, p))
							}
							continue
						}
					}
					m.Extra = append(m.Extra, fieldValue(k, mo.vals[k], false))
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// Model returns one model.
func (d *Document) Model(group, name string) (Model, bool) {
	for _, m := range d.Models() {
		if m.Group == group && m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}

func providerView(i int, v any) Provider {
	p := Provider{Index: i}
	if o, ok := v.(*object); ok {
		for _, k := range o.keys {
			p.Fields = append(p.Fields, fieldValue(k, o.vals[k], known(k)))
		}
	}
	return p
}

func fieldValue(name string, v any, isKnown bool) FieldValue {
	f := FieldValue{Name: name, Known: isKnown}
	f.Text, f.Kind = text(v)
	return f
}

// text renders a value as form text.
func text(v any) (string, Kind) {
	switch t := v.(type) {
	case string:
		return t, KindString
	case json.Number:
		return t.String(), KindNumber
	case bool:
		return strconv.FormatBool(t), KindBool
	case nil:
		return "", KindNull
	default:
		var b bytes.Buffer
		writeCompact(&b, t)
		return b.String(), KindJSON
	}
}

// writeCompact writes v as one-line JSON, keys in document order.
func writeCompact(b *bytes.Buffer, v any) {
	switch t := v.(type) {
	case *object:
		b.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			writeCompact(b, t.vals[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCompact(b, e)
		}
		b.WriteByte(']')
	default:
		writeValue(b, t, "")
	}
}

// ActiveModels returns the names active_models lists for group.
func (d *Document) ActiveModels(group string) []string {
	act, ok := d.root.vals[ActiveKey].(*object)
	if !ok {
		return nil
	}
	list, _ := act.vals[group].([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// SetActive sets the models active_models lists for group (none removes the
// group's entry). Every name must be a model of the group.
func (d *Document) SetActive(group string, names []string) error {
	grp, err := d.group(group)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, ok := grp.vals[n]; !ok {
			return fmt.Errorf("group %q: model %q: %w", group, n, ErrNotFound)
		}
	}
	act := d.active()
	if len(names) == 0 {
		act.del(group)
		return nil
	}
	list := make([]any, len(names))
	for i, n := range names {
		list[i] = n
	}
	act.set(group, list)
	return nil
}

// active returns the active_models object, creating it when missing.
func (d *Document) active() *object {
	act, ok := d.root.vals[ActiveKey].(*object)
	if !ok {
		act = newObject()
		d.root.set(ActiveKey, act)
	}
	return act
}

func (d *Document) group(name string) (*object, error) {
	grp, ok := d.root.vals[name].(*object)
	if !ok || name == ActiveKey {
		return nil, fmt.Errorf("group %q: %w", name, ErrNotFound)
	}
	return grp, nil
}

func (d *Document) model(group, name string) (*object, error) {
	grp, err := d.group(group)
	if err != nil {
		return nil, err
	}
	m, ok := grp.vals[name].(*object)
	if !ok {
		return nil, fmt.Errorf("group %q: model %q: %w", group, name, ErrNotFound)
	}
	return m, nil
}

func (d *Document) providers(group, model string) (*object, []any, error) {
	m, err := d.model(group, model)
	if err != nil {
		return nil, nil, err
	}
	list, _ := m.vals["providers"].([]any)
	return m, list, nil
}

func (d *Document) provider(group, model string, i int) (*object, error) {
	_, list, err := d.providers(group, model)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(list) {
		return nil, fmt.Errorf("model %q: provider #%d: %w", model, i, ErrNotFound)
	}
	p, ok := list[i].(*object)
	if !ok {
		p = newObject()
		list[i] = p
	}
	return p, nil
}

// AddGroup adds an empty model group before active_models.
func (d *Document) AddGroup(name string) error {
	name = strings.TrimSpace(name)
	if name == "" || name == ActiveKey {
		return fmt.Errorf("group name %q is not allowed", name)
	}
	if _, ok := d.root.vals[name]; ok {
		return fmt.Errorf("group %q: %w", name, ErrExists)
	}
	d.root.insertBefore(name, newObject(), ActiveKey)
	return nil
}

// RenameGroup renames a model group in place, and its active_models entry.
func (d *Document) RenameGroup(old, nu string) error {
	nu = strings.TrimSpace(nu)
	if _, err := d.group(old); err != nil {
		return err
	}
	if old == nu {
		return nil
	}
	if nu == "" || nu == ActiveKey {
		return fmt.Errorf("group name %q is not allowed", nu)
	}
	if _, ok := d.root.vals[nu]; ok {
		return fmt.Errorf("group %q: %w", nu, ErrExists)
	}
	d.root.rename(old, nu)
	if act, ok := d.root.vals[ActiveKey].(*object); ok {
		if _, ok := act.vals[old]; ok {
			if _, clash := act.vals[nu]; clash {
				act.del(nu)
			}
			act.rename(old, nu)
		}
	}
	return nil
}

// DeleteGroup removes a model group with its models and its active_models
// entry.
func (d *Document) DeleteGroup(name string) error {
	if _, err := d.group(name); err != nil {
		return err
	}
	d.root.del(name)
	if act, ok := d.root.vals[ActiveKey].(*object); ok {
		act.del(name)
	}
	return nil
}

// SetModel adds model name to group (creating the group) with an empty
// providers list; an existing model is left as it is.
func (d *Document) SetModel(group, name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("a model needs a name")
	}
	if _, ok := d.root.vals[group]; !ok {
		if err := d.AddGroup(group); err != nil {
			return err
		}
	}
	grp, err := d.group(group)
	if err != nil {
		return err
	}
	if _, ok := grp.vals[name]; ok {
		return nil
	}
	m := newObject()
	m.set("providers", []any{})
	grp.set(name, m)
	return nil
}

// RenameModel renames a model in place, and in active_models.
func (d *Document) RenameModel(group, old, nu string) error {
	if strings.TrimSpace(nu) == "" {
		return errors.New("a model needs a name")
	}
	grp, err := d.group(group)
	if err != nil {
		return err
	}
	if _, ok := grp.vals[old]; !ok {
		return fmt.Errorf("group %q: model %q: %w", group, old, ErrNotFound)
	}
	if old == nu {
		return nil
	}
	if _, ok := grp.vals[nu]; ok {
		return fmt.Errorf("group %q: model %q: %w", group, nu, ErrExists)
	}
	grp.rename(old, nu)
	if act, ok := d.root.vals[ActiveKey].(*object); ok {
		if list, ok := act.vals[group].([]any); ok {
			for i, e := range list {
				if e == any(old) {
					list[i] = nu
				}
			}
		}
	}
	return nil
}

// DeleteModel removes a model, and its name from active_models.
func (d *Document) DeleteModel(group, name string) error {
	grp, err := d.group(group)
	if err != nil {
		return err
	}
	if _, ok := grp.vals[name]; !ok {
		return fmt.Errorf("group %q: model %q: %w", group, name, ErrNotFound)
	}
	grp.del(name)
	if act, ok := d.root.vals[ActiveKey].(*object); ok {
		if list, ok := act.vals[group].([]any); ok {
			list = slices.DeleteFunc(list, func(e any) bool { return e == any(name) })
			if len(list) == 0 {
				act.del(group)
			} else {
				act.vals[group] = list
			}
		}
	}
	return nil
}

// Fields are form values for a provider: field name → form text. A field
// left out is not touched.
type Fields map[string]string

// AddProvider appends a provider with the given fields (in the router's
// field order, then the others by name) and returns its index.
func (d *Document) AddProvider(group, model string, fields Fields) (int, error) {
	m, list, err := d.providers(group, model)
	if err != nil {
		return 0, err
	}
	p := newObject()
	var order []string
	for _, f := range config.ProviderFieldNames() {
		if _, ok := fields[f]; ok {
			order = append(order, f)
		}
	}
	var rest []string
	for k := range fields {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range append(order, rest...) {
		if err := setField(p, k, fields[k]); err != nil {
			return 0, fmt.Errorf("model %q: new provider: %w", model, err)
		}
	}
	m.set("providers", append(list, p))
	return len(list), nil
}

// SetProvider sets fields of provider i. A value equal to the current form
// text leaves the field as written (a null keep_alive stays null); an
// api_token equal to TokenMarker keeps the stored token.
func (d *Document) SetProvider(group, model string, i int, fields Fields) error {
	p, err := d.provider(group, model, i)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	// Check every value before changing any.
	tmp := cloneValue(p).(*object)
	for _, k := range names {
		if err := setField(tmp, k, fields[k]); err != nil {
			return fmt.Errorf("model %q: provider #%d: %w", model, i, err)
		}
	}
	*p = *tmp
	return nil
}

// UnsetField removes a field from provider i.
func (d *Document) UnsetField(group, model string, i int, name string) error {
	p, err := d.provider(group, model, i)
	if err != nil {
		return err
	}
	p.del(name)
	return nil
}

// DeleteProvider removes provider i.
func (d *Document) DeleteProvider(group, model string, i int) error {
	m, list, err := d.providers(group, model)
	if err != nil {
		return err
	}
	if i < 0 || i >= len(list) {
		return fmt.Errorf("model %q: provider #%d: %w", model, i, ErrNotFound)
	}
	m.vals["providers"] = slices.Delete(list, i, i+1)
	return nil
}

// MoveProvider moves provider from to place to (both indexes in the
// current list), shifting the ones between.
func (d *Document) MoveProvider(group, model string, from, to int) error {
	m, list, err := d.providers(group, model)
	if err != nil {
		return err
	}
	if from < 0 || from >= len(list) || to < 0 || to >= len(list) {
		return fmt.Errorf("model %q: move provider #%d to #%d: %w", model, from, to, ErrNotFound)
	}
	p := list[from]
	list = slices.Delete(list, from, from+1)
	list = slices.Insert(list, to, p)
	m.vals["providers"] = list
	return nil
}

// setField sets one field of a provider object from form text.
func setField(p *object, name, value string) error {
	cur, present := p.get(name)
	if present {
		if t, _ := text(cur); t == value {
			return nil
		}
	}
	if name == "api_token" && value == TokenMarker {
		return nil
	}
	typ, isKnown := fieldType(name)
	if !isKnown {
		// Unknown fields keep their kind; a new one is a string.
		_, kind := text(cur)
		if !present {
			kind = KindString
		}
		return setKind(p, name, value, kind)
	}
	switch typ {
	case "number", "integer":
		v := strings.TrimSpace(value)
		if v == "" {
			p.del(name)
			return nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("field %q: %q is not a number", name, value)
		}
		if typ == "integer" && f != math.Trunc(f) {
			return fmt.Errorf("field %q: %q is not a whole number", name, value)
		}
		p.set(name, json.Number(v))
	case "bool":
		b, err := formBool(value)
		if err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
		if !b && !present {
			return nil // unchecked and absent: the default, leave it out
		}
		p.set(name, b)
	default:
		if !present && value == "" && !schema[name].Required {
			return nil
		}
		if typ == "url" || typ == "enum" || name == "id" {
			value = strings.TrimSpace(value)
		}
		p.set(name, value)
	}
	return nil
}

func setKind(p *object, name, value string, kind Kind) error {
	switch kind {
	case KindNumber:
		v := strings.TrimSpace(value)
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("field %q: %q is not a number", name, value)
		}
		p.set(name, json.Number(v))
	case KindBool:
		b, err := formBool(value)
		if err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
		p.set(name, b)
	case KindNull:
		if value == "" {
			p.set(name, nil)
		} else {
			p.set(name, value)
		}
	case KindJSON:
		nd, err := Parse([]byte(`{"v":` + value + "}"))
		if err != nil {
			return fmt.Errorf("field %q: not valid JSON: %w", name, err)
		}
		p.set(name, nd.root.vals["v"])
	default:
		p.set(name, value)
	}
	return nil
}

func formBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "on", "1", "yes":
		return true, nil
	case "false", "off", "0", "no", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}
