// Package configcmd is `llm-router config discover | merge | validate`:
// it finds the local LLM runtimes on hosts and writes a models-config the
// router accepts, merges models-configs, and checks one with the router's
// own validator.
package configcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Runtime is a kind of local LLM server.
type Runtime struct {
	// Name is the runtime's name; the group is "<Name>_models".
	Name string
	// APIType is the router api_type that speaks its protocol.
	APIType string
	// Ports are its usual ports; AllPorts adds the less usual ones.
	Ports, AllPorts []int
	// probe returns the models served at base, or an error when base is
	// not this runtime.
	probe func(ctx context.Context, p *prober, base string) ([]Found, error)
}

// Found is one model a runtime serves.
type Found struct {
	Model     string
	InputSize int // 0 when the runtime does not report it
}

// Runtimes are the runtimes discover knows, most specific probe first (several
// speak the OpenAI API; each is told apart by an endpoint of its own).
func Runtimes() []Runtime {
	return []Runtime{
		{Name: "ollama", APIType: "ollama", Ports: []int{11434}, AllPorts: []int{18765}, probe: probeOllama},
		{Name: "koboldcpp", APIType: "openai", Ports: []int{5001}, probe: probeKobold},
		{Name: "lmstudio", APIType: "lmstudio", Ports: []int{1234}, AllPorts: []int{1235}, probe: probeLMStudio},
		{Name: "llamacpp", APIType: "openai", Ports: []int{8080}, probe: probeLlamaCpp},
		{Name: "tabbyapi", APIType: "openai", Ports: []int{5000, 8080}, probe: probeTabby},
		{Name: "vllm", APIType: "vllm", Ports: []int{8000}, AllPorts: []int{7000}, probe: probeVLLM},
	}
}

// Endpoint is one runtime found at a base URL.
type Endpoint struct {
	Runtime Runtime
	Base    string // scheme://host:port
	Models  []Found
}

// prober makes bounded GET/POST requests.
type prober struct {
	hc *http.Client
}

// maxProbeBody bounds a probe answer.
const maxProbeBody = 4 << 20

func (p *prober) getJSON(ctx context.Context, u string, out any) error {
	return p.do(ctx, http.MethodGet, u, nil, out)
}

func (p *prober) do(ctx context.Context, method, u string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", u, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody+1))
	if err != nil {
		return err
	}
	if len(data) > maxProbeBody {
		return fmt.Errorf("%s: answer too large", u)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

type openAIModels struct {
	Object string `json:"object"`
	Data   []struct {
		ID          string `json:"id"`
		OwnedBy     string `json:"owned_by"`
		MaxModelLen int    `json:"max_model_len"`
		Meta        struct {
			NCtxTrain int `json:"n_ctx_train"`
		} `json:"meta"`
	} `json:"data"`
}

func (p *prober) openAIList(ctx context.Context, base string) (openAIModels, error) {
	var m openAIModels
	if err := p.getJSON(ctx, base+"/v1/models", &m); err != nil {
		return m, err
	}
	if m.Data == nil {
		return m, errors.New("not an OpenAI model list")
	}
	return m, nil
}

func probeOllama(ctx context.Context, p *prober, base string) ([]Found, error) {
	var tags struct {
		Models *[]struct {
			Name  string `json:"name"`
			Model string `json:"model"`
		} `json:"models"`
	}
	if err := p.getJSON(ctx, base+"/api/tags", &tags); err != nil {
		return nil, err
	}
	if tags.Models == nil {
		return nil, errors.New("not an Ollama tag list")
	}
	var out []Found
	for _, m := range *tags.Models {
		name := m.Name
		if name == "" {
			name = m.Model
		}
		f := Found{Model: name}
		var show struct {
			ModelInfo map[string]any `json:"model_info"`
		}
		body := strings.NewReader(fmt.Sprintf(`{"model":%q}`, name))
		if p.do(ctx, http.MethodPost, base+"/api/show", body, &show) == nil {
			for k, v := range show.ModelInfo {
				if n, ok := v.(float64); ok && (k == "context_length" || strings.HasSuffix(k, ".context_length")) {
					f.InputSize = int(n)
				}
			}
		}
		out = append(out, f)
	}
	return out, nil
}

func probeKobold(ctx context.Context, p *prober, base string) ([]Found, error) {
	var m struct {
		Result string `json:"result"`
	}
	if err := p.getJSON(ctx, base+"/api/v1/model", &m); err != nil {
		return nil, err
	}
	if m.Result == "" {
		return nil, errors.New("not KoboldCpp")
	}
	f := Found{Model: strings.TrimPrefix(m.Result, "koboldcpp/")}
	var ctxLen struct {
		Value int `json:"value"`
	}
	if p.getJSON(ctx, base+"/api/extra/true_max_context_length", &ctxLen) == nil {
		f.InputSize = ctxLen.Value
	}
	return []Found{f}, nil
}

func probeLMStudio(ctx context.Context, p *prober, base string) ([]Found, error) {
	var m struct {
		Data []struct {
			ID               string `json:"id"`
			Type             string `json:"type"`
			MaxContextLength int    `json:"max_context_length"`
		} `json:"data"`
	}
	if err := p.getJSON(ctx, base+"/api/v0/models", &m); err != nil {
		return nil, err
	}
	if m.Data == nil {
		return nil, errors.New("not LM Studio")
	}
	var out []Found
	for _, d := range m.Data {
		if d.Type == "" {
			// An OpenAI list served on any */models path, not LM Studio's.
			return nil, errors.New("not LM Studio")
		}
		if d.Type == "embeddings" {
			continue
		}
		out = append(out, Found{d.ID, d.MaxContextLength})
	}
	return out, nil
}

func probeLlamaCpp(ctx context.Context, p *prober, base string) ([]Found, error) {
	var props struct {
		Settings *struct {
			NCtx int `json:"n_ctx"`
		} `json:"default_generation_settings"`
	}
	if err := p.getJSON(ctx, base+"/props", &props); err != nil {
		return nil, err
	}
	if props.Settings == nil {
		return nil, errors.New("not llama.cpp")
	}
	list, err := p.openAIList(ctx, base)
	if err != nil {
		return nil, err
	}
	var out []Found
	for _, d := range list.Data {
		out = append(out, Found{d.ID, props.Settings.NCtx})
	}
	return out, nil
}

func probeTabby(ctx context.Context, p *prober, base string) ([]Found, error) {
	var cur struct {
		ID         string `json:"id"`
		Parameters *struct {
			MaxSeqLen int `json:"max_seq_len"`
		} `json:"parameters"`
	}
	if err := p.getJSON(ctx, base+"/v1/model", &cur); err != nil {
		return nil, err
	}
	if cur.Parameters == nil || cur.ID == "" {
		return nil, errors.New("not TabbyAPI")
	}
	return []Found{{cur.ID, cur.Parameters.MaxSeqLen}}, nil
}

func probeVLLM(ctx context.Context, p *prober, base string) ([]Found, error) {
	list, err := p.openAIList(ctx, base)
	if err != nil {
		return nil, err
	}
	var out []Found
	for _, d := range list.Data {
		out = append(out, Found{d.ID, d.MaxModelLen})
	}
	return out, nil
}

// Target is one HOST argument: a host, host:port or scheme://host:port.
type Target struct {
	Scheme, Host string
	Port         int // 0: every runtime's usual ports
}

// ParseTarget reads a HOST argument.
func ParseTarget(s string) (Target, error) {
	t := Target{Scheme: "http"}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return t, fmt.Errorf("host %q: not a URL", s)
		}
		t.Scheme, s = u.Scheme, u.Host
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			t.Host = strings.Trim(s, "[]")
			return t, nil
		}
		return t, fmt.Errorf("host %q: %w", s, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 {
		return t, fmt.Errorf("host %q: bad port", s)
	}
	t.Host, t.Port = host, n
	return t, nil
}

// Discover probes the targets and returns the runtimes found. On each
// address the runtimes are tried most specific first and the first match
// wins. logf receives one line per address tried.
func Discover(ctx context.Context, targets []Target, allPorts bool, timeout time.Duration, logf func(string, ...any)) []Endpoint {
	p := &prober{hc: &http.Client{Timeout: timeout}}
	rts := Runtimes()
	var out []Endpoint
	type addr struct {
		base string
		rts  []Runtime
	}
	for _, t := range targets {
		var addrs []addr
		if t.Port != 0 {
			addrs = append(addrs, addr{fmt.Sprintf("%s://%s", t.Scheme, net.JoinHostPort(t.Host, strconv.Itoa(t.Port))), rts})
		} else {
			byPort := map[int][]Runtime{}
			var ports []int
			for _, rt := range rts {
				ps := rt.Ports
				if allPorts {
					ps = append(slices.Clone(ps), rt.AllPorts...)
				}
				for _, port := range ps {
					if byPort[port] == nil {
						ports = append(ports, port)
					}
					byPort[port] = append(byPort[port], rt)
				}
			}
			slices.Sort(ports)
			for _, port := range ports {
				addrs = append(addrs, addr{fmt.Sprintf("%s://%s", t.Scheme, net.JoinHostPort(t.Host, strconv.Itoa(port))), byPort[port]})
			}
		}
		for _, a := range addrs {
			found := false
			for _, rt := range a.rts {
				models, err := rt.probe(ctx, p, a.base)
				if err != nil {
					continue
				}
				logf("%s: %s with %d model(s)", a.base, rt.Name, len(models))
				out = append(out, Endpoint{Runtime: rt, Base: a.base, Models: models})
				found = true
				break
			}
			if !found {
				logf("%s: nothing found", a.base)
			}
		}
	}
	return out
}

// ModelsConfig builds a models-config from the endpoints: one group
// "<runtime>_models" per runtime, a provider
// "<api_type>_<model>_<host:port>" per model and address, every model
// active. A model served by several addresses (or runtimes) gets one
// provider each, in the group where it was first found.
func ModelsConfig(eps []Endpoint) map[string]any {
	doc := map[string]any{}
	active := map[string][]string{}
	groupOf := map[string]string{} // model names are unique across groups
	for _, ep := range eps {
		hostport := strings.TrimPrefix(strings.TrimPrefix(ep.Base, "http://"), "https://")
		for _, m := range ep.Models {
			prov := map[string]any{
				"id":       fmt.Sprintf("%s_%s_%s", ep.Runtime.APIType, m.Model, hostport),
				"api_host": ep.Base,
				"api_type": ep.Runtime.APIType,
				"weight":   1.0,
			}
			if m.InputSize > 0 {
				prov["input_size"] = m.InputSize
			}
			group, ok := groupOf[m.Model]
			if !ok {
				group = ep.Runtime.Name + "_models"
				groupOf[m.Model] = group
			}
			g, _ := doc[group].(map[string]any)
			if g == nil {
				g = map[string]any{}
				doc[group] = g
			}
			entry, _ := g[m.Model].(map[string]any)
			if entry == nil {
				entry = map[string]any{"providers": []any{}, "providers_sleep": []any{}}
				g[m.Model] = entry
				active[group] = append(active[group], m.Model)
			}
			entry["providers"] = append(entry["providers"].([]any), prov)
		}
	}
	am := map[string]any{}
	for g, names := range active {
		am[g] = names
	}
	doc["active_models"] = am
	return doc
}
