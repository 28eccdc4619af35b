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
	doc = map[string]any{}
	groupOf := map[string]string{}  // model → group
	idHost := map[string]string{}   // provider id → api_host
	from := map[string]string{}     // provider id → input name
	active := map[string][]string{} // group → models
	var groupOrder []string
	for _, in := range inputs {
		std, err := hujson.Standardize(bytes.Clone(in.Data))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: invalid JSON: %w", in.Name, err)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(std, &top); err != nil {
			return nil, nil, fmt.Errorf("%s: want a JSON object: %w", in.Name, err)
		}
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			raw := top[k]
			if k == "active_models" {
				var am map[string][]string
				if err := json.Unmarshal(raw, &am); err != nil {
					return nil, nil, fmt.Errorf("%s: active_models: want {group: [models]}: %w", in.Name, err)
				}
				for _, g := range sortedKeys(am) {
					if _, seen := active[g]; !seen {
						groupOrder = append(groupOrder, g)
					}
					for _, m := range am[g] {
						if !slices.Contains(active[g], m) {
							active[g] = append(active[g], m)
						}
					}
					if active[g] == nil {
						active[g] = []string{}
					}
				}
				continue
			}
			var group map[string]map[string]any
			if json.Unmarshal(raw, &group) != nil {
				// Not a model group: first value wins.
				var v any
				_ = json.Unmarshal(raw, &v)
				if old, ok := doc[k]; ok && !reflect.DeepEqual(old, v) {
					conflicts = append(conflicts, fmt.Sprintf("%s: %q differs from an earlier file; kept the first value", in.Name, k))
				} else if !ok {
					doc[k] = v
				}
				continue
			}
			for _, name := range sortedKeys(group) {
				model := group[name]
				g := k
				if prev, ok := groupOf[name]; ok && prev != k {
					conflicts = append(conflicts, fmt.Sprintf("%s: model %q is in group %q here but in %q earlier; merged into %q", in.Name, name, k, prev, prev))
					g = prev
				}
				groupOf[name] = g
				dst, _ := doc[g].(map[string]any)
				if dst == nil {
					dst = map[string]any{}
					doc[g] = dst
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
						conflicts = append(conflicts, fmt.Sprintf("%s: model %q: %q differs from an earlier file; kept the first value", in.Name, name, mk))
					} else if !ok {
						cur[mk] = mv
					}
				}
				provs, _ := model["providers"].([]any)
				for _, pv := range provs {
					p, ok := pv.(map[string]any)
					if !ok {
						return nil, nil, fmt.Errorf("%s: model %q: a provider is not an object", in.Name, name)
					}
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
						conflicts = append(conflicts, fmt.Sprintf("%s: model %q: provider %q has api_host %s, already served by provider %q from %s with other settings; kept the first",
							in.Name, name, id, host, same["id"], from[fmt.Sprint(same["id"])]))
					case idHost[id] != "" && idHost[id] != host:
						conflicts = append(conflicts, fmt.Sprintf("%s: model %q: provider id %q is already used for %s (in %s); dropped this one (%s)",
							in.Name, name, id, idHost[id], from[id], host))
					default:
						cur["providers"] = append(existing, p)
						idHost[id], from[id] = host, in.Name
					}
				}
			}
		}
	}
	// An active model goes to the group it was merged into.
	final := map[string][]string{}
	for _, g := range groupOrder {
		if final[g] == nil {
			final[g] = []string{}
		}
		for _, m := range active[g] {
			dst := g
			if mg, ok := groupOf[m]; ok {
				dst = mg
			}
			if !slices.Contains(final[dst], m) {
				final[dst] = append(final[dst], m)
			}
		}
	}
	am := map[string]any{}
	for g, ms := range final {
		am[g] = ms
	}
	doc["active_models"] = am
	return doc, conflicts, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
