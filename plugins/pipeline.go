package plugins

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
)

// Health reports whether a named service is up. *ServicesMonitor
// implements it.
type Health interface {
	Up(name string) bool
}

// Pipeline runs the configured plugins of one router configuration. Build
// it once per config load; its methods are safe for concurrent use as long
// as the plugins are. The zero value runs nothing.
type Pipeline struct {
	// Utils run in order on every routed request.
	Utils []Util
	// RequestGuardrails check the request texts (only set when
	// LLM_ROUTER_FORCE_GUARDRAIL_REQUEST or its Caddyfile twin is on).
	RequestGuardrails []Guardrail
	// ResponseGuardrails check the texts of non-streamed responses.
	ResponseGuardrails []Guardrail
	// Maskers run in order; each one masks the output of the previous.
	Maskers []Masker
	// ForceMasking masks every request, not only those with "anonymize": true.
	ForceMasking bool
	// Health, when set, makes calls to a Service plugin fail fast while the
	// monitor reports it down.
	Health Health
	// OnFailOpen, when set, is called each time a fail-open plugin is
	// skipped because its service is unavailable (for logs and metrics; err
	// holds no secrets).
	OnFailOpen func(service string, err error)
}

// Route runs the utils in order.
func (p *Pipeline) Route(ctx context.Context, r *Request) error {
	for i, u := range p.Utils {
		if err := p.call(ctx, u, func() error { return u.Apply(ctx, r) }); err != nil {
			if errors.Is(err, errSkipped) {
				continue
			}
			return fmt.Errorf("util %s: %w", name(u, i), err)
		}
	}
	return nil
}

// MaskingEnabled reports whether a request must be masked: a masker
// pipeline is configured and masking is forced or the client asked for it
// with "anonymize": true.
func (p *Pipeline) MaskingEnabled(anonymize bool) bool {
	return len(p.Maskers) > 0 && (p.ForceMasking || anonymize)
}

// Mask runs the masker chain over texts. It returns the masked texts (same
// length and order as texts) and the merged mappings placeholder → original;
// when two maskers produce the same placeholder the first mapping is kept.
// On error nothing is returned and the request must not go upstream.
func (p *Pipeline) Mask(ctx context.Context, texts []string) ([]string, map[string]string, error) {
	if len(p.Maskers) == 0 || len(texts) == 0 {
		return texts, nil, nil
	}
	cur := texts
	var merged map[string]string
	for i, m := range p.Maskers {
		var out []string
		var mp map[string]string
		err := p.call(ctx, m, func() error {
			var err error
			out, mp, err = m.MaskTexts(ctx, cur)
			if err == nil && len(out) != len(cur) {
				err = &ServiceError{Service: name(m, i), Kind: "invalid answer",
					Err: fmt.Errorf("masker returned %d texts for %d", len(out), len(cur))}
			}
			return err
		})
		if errors.Is(err, errSkipped) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("masker %s: %w", name(m, i), err)
		}
		cur = out
		merged = MergeMappings(merged, mp)
	}
	return cur, merged, nil
}

// CheckRequest runs the request guardrails; the first unsafe decision stops
// the chain and is returned. All safe (or none configured) → Safe.
func (p *Pipeline) CheckRequest(ctx context.Context, texts []string) (Decision, error) {
	return p.check(ctx, p.RequestGuardrails, texts)
}

// CheckResponse runs the response guardrails over the texts of a
// non-streamed answer; same rules as CheckRequest.
func (p *Pipeline) CheckResponse(ctx context.Context, texts []string) (Decision, error) {
	return p.check(ctx, p.ResponseGuardrails, texts)
}

func (p *Pipeline) check(ctx context.Context, gs []Guardrail, texts []string) (Decision, error) {
	for i, g := range gs {
		var d Decision
		err := p.call(ctx, g, func() error {
			var err error
			d, err = g.Check(ctx, texts)
			return err
		})
		if errors.Is(err, errSkipped) {
			continue
		}
		if err != nil {
			return Decision{}, fmt.Errorf("guardrail %s: %w", name(g, i), err)
		}
		if !d.Safe {
			if d.Guardrail == "" {
				d.Guardrail = name(g, i)
			}
			if d.Reason == "" {
				d.Reason = "not safe content"
			}
			return d, nil
		}
	}
	return Decision{Safe: true}, nil
}

// errSkipped marks a fail-open plugin that was passed over.
var errSkipped = errors.New("skipped")

// call runs fn for plugin x, failing fast when the monitor reports x's
// service down and turning service failures of fail-open plugins into
// errSkipped.
func (p *Pipeline) call(ctx context.Context, x any, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s, isSvc := x.(Service)
	var err error
	if isSvc && p.Health != nil && !p.Health.Up(s.ServiceName()) {
		err = &ServiceError{Service: s.ServiceName(), Kind: "marked down by monitor"}
	} else {
		err = fn()
	}
	if err != nil && isSvc && s.FailOpen() && ctx.Err() == nil && errors.Is(err, ErrServiceUnavailable) {
		if p.OnFailOpen != nil {
			p.OnFailOpen(s.ServiceName(), err)
		}
		return errSkipped
	}
	return err
}

// name is the plugin's service name, or its position in the chain.
func name(x any, i int) string {
	if s, ok := x.(Service); ok {
		return s.ServiceName()
	}
	return "#" + strconv.Itoa(i+1)
}

// MergeMappings copies src into dst, keeping dst's value for keys present
// in both, and returns dst (allocated when nil and src is not empty).
func MergeMappings(dst, src map[string]string) map[string]string {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		return maps.Clone(src)
	}
	for k, v := range src {
		if _, dup := dst[k]; !dup {
			dst[k] = v
		}
	}
	return dst
}
