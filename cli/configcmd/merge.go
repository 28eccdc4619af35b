package configcmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"github.com/tailscale/hujson"
)

// Input is one models-config to merge.
type Input struct {
	Name string
	Data []byte // HuJSON
}

// Merge deep-merges models-configs, the first one winning: groups and models
// are united; a model's providers are concatenated, de-duplicated by
// api_host (the first kept); active model lists are concatenated without
// repeats. Every disagreement is reported as a conflict: a provider
// dropped because its api_host is taken by a different provider, a
// provider id used for two hosts, a model defined in two groups, other
// differing values. Within a file, groups are taken in name order.
func Merge(inputs []Input) (doc map[string]any, conflicts []string, err error) {
	m := &merger{
		doc:     map[string]any{},
		groupOf: map[string]string{},
		idHost:  map[string]string{},
		from:    map[string]string{},
		active:  map[string][]string{},
	}
	for _, in := range inputs {
		if err := m.input(in); err != nil {
			return nil, nil, err
		}
	}
	m.doc["active_models"] = m.activeModels()
	return m.doc, m.conflicts, nil
}

// merger is the state of one Merge.
type merger struct {
	doc        map[string]any
	conflicts  []string
	groupOf    map[string]string   // model → group
	idHost     map[string]string   // provider id → api_host
	from       map[string]string   // provider id → input name
	active     map[string][]string // group → models
	groupOrder []string
}

// conflict records a disagreement between the inputs.
func (m *merger) conflict(format string, args ...any) {
	m.conflicts = append(m.conflicts, fmt.Sprintf(format, args...))
}

// input merges one file's top-level keys, in name order.
func (m *merger) input(in Input) error {
	std, err := hujson.Standardize(bytes.Clone(in.Data))
	if err != nil {
		return fmt.Errorf("%s: invalid JSON: %w", in.Name, err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(std, &top); err != nil {
		return fmt.Errorf("%s: want a JSON object: %w", in.Name, err)
	}
	for _, k := range sortedKeys(top) {
		raw := top[k]
		if k == "active_models" {
			if err := m.addActive(in.Name, raw); err != nil {
				return err
			}
			continue
		}
		var group map[string]map[string]any
		if json.Unmarshal(raw, &group) != nil {
			// Not a model group: first value wins.
			var v any
			_ = json.Unmarshal(raw, &v)
			if old, ok := m.doc[k]; ok && !reflect.DeepEqual(old, v) {
				m.conflict("%s: %q differs from an earlier file; kept the first value", in.Name, k)
			} else if !ok {
				m.doc[k] = v
			}
			continue
		}
		for _, name := range sortedKeys(group) {
			if err := m.addModel(in.Name, k, name, group[name]); err != nil {
				return err
			}
		}
	}
	return nil
}

// addActive concatenates a file's active_models lists, without repeats.
func (m *merger) addActive(file string, raw json.RawMessage) error {
	var am map[string][]string
	if err := json.Unmarshal(raw, &am); err != nil {
		return fmt.Errorf("%s: active_models: want {group: [models]}: %w", file, err)
	}
	for _, g := range sortedKeys(am) {
		if _, seen := m.active[g]; !seen {
			m.groupOrder = append(m.groupOrder, g)
		}
		for _, model := range am[g] {
			if !slices.Contains(m.active[g], model) {
				m.active[g] = append(m.active[g], model)
			}
		}
		if m.active[g] == nil {
			m.active[g] = []string{}
		}
	}
	return nil
}

// addModel merges model name of group k: into the group it was first seen
// in, its settings first value wins, its providers by addProvider.
func (m *merger) addModel(file, k, name string, model map[string]any) error {
	g := k
	if prev, ok := m.groupOf[name]; ok && prev != k {
		m.conflict("%s: model %q is in group %q here but in %q earlier; merged into %q", file, name, k, prev, prev)
		g = prev
	}
	m.groupOf[name] = g
	dst, _ := m.doc[g].(map[string]any)
	if dst == nil {
		dst = map[string]any{}
		m.doc[g] = dst
	}
	cur, _ := dst[name].(map[string]any)
	if cur == nil {
		cur = map[string]any{"providers": []any{}}
		dst[name] = cur
	}
	for mk, mv := range model {
		if mk == "providers" {
			continue
		}
		if old, ok := cur[mk]; ok && !reflect.DeepEqual(old, mv) {
			m.conflict("%s: model %q: %q differs from an earlier file; kept the first value", file, name, mk)
		} else if !ok {
			cur[mk] = mv
		}
	}
	provs, _ := model["providers"].([]any)
	for _, pv := range provs {
		p, ok := pv.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: model %q: a provider is not an object", file, name)
		}
		m.addProvider(file, name, cur, p)
	}
	return nil
}

// addProvider appends provider p to model cur unless its api_host is
// served already or its id is used for another host.
func (m *merger) addProvider(file, name string, cur, p map[string]any) {
	id, _ := p["id"].(string)
	host, _ := p["api_host"].(string)
	existing := cur["providers"].([]any)
	var same map[string]any
	for _, e := range existing {
		if e.(map[string]any)["api_host"] == host {
			same = e.(map[string]any)
			break
		}
	}
	switch {
	case same != nil && reflect.DeepEqual(same, p):
		// The same provider in two files.
	case same != nil:
		m.conflict("%s: model %q: provider %q has api_host %s, already served by provider %q from %s with other settings; kept the first",
			file, name, id, host, same["id"], m.from[fmt.Sprint(same["id"])])
	case m.idHost[id] != "" && m.idHost[id] != host:
		m.conflict("%s: model %q: provider id %q is already used for %s (in %s); dropped this one (%s)",
			file, name, id, m.idHost[id], m.from[id], host)
	default:
		cur["providers"] = append(existing, p)
		m.idHost[id], m.from[id] = host, file
	}
}

// activeModels is the merged active_models: an active model goes to the
// group it was merged into.
func (m *merger) activeModels() map[string]any {
	final := map[string][]string{}
	for _, g := range m.groupOrder {
		if final[g] == nil {
			final[g] = []string{}
		}
		for _, model := range m.active[g] {
			dst := g
			if mg, ok := m.groupOf[model]; ok {
				dst = mg
			}
			if !slices.Contains(final[dst], model) {
				final[dst] = append(final[dst], model)
			}
		}
	}
	am := map[string]any{}
	for g, ms := range final {
		am[g] = ms
	}
	return am
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
