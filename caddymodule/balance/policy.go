package balance

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Kind names a load-balancing algorithm.
type Kind int

// The strategies. Balanced is the default.
const (
	// Balanced picks the provider with the fewest requests in flight, ties
	// broken by the fewest requests served for the model, then list order.
	Balanced Kind = iota
	// Weighted is smooth weighted round robin (the nginx algorithm) over
	// Candidate.Weight: exact proportions, no randomness.
	Weighted
	// DynamicWeighted is Weighted over weights scaled down by each provider's
	// observed latency and error rate (see DynamicFactor).
	DynamicWeighted
	// FirstAvailable gives each provider to one request at a time; others wait
	// in a fair queue until a lease frees or the queue timeout passes.
	FirstAvailable
	// FirstAvailableOptim is FirstAvailable that prefers the host which last
	// served the model (its weights are warm) and avoids hosts busy with
	// another model.
	FirstAvailableOptim
)

var kindNames = [...]string{"balanced", "weighted", "dynamic_weighted", "first_available", "first_available_optim"}

// String returns the strategy's configuration name.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// ParseKind maps a configuration name (as in LLM_ROUTER_BALANCE_STRATEGY,
// case-insensitive) to its Kind. The empty string means Balanced.
func ParseKind(s string) (Kind, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return Balanced, nil
	}
	for i, n := range kindNames {
		if n == s {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown balance strategy %q (want one of %s)", s, strings.Join(kindNames[:], ", "))
}

// exclusive reports whether a provider serves one request at a time.
func (k Kind) exclusive() bool { return k == FirstAvailable || k == FirstAvailableOptim }

// Policy is a strategy as the balancer applies it to one model.
type Policy struct {
	Kind Kind
	// QueueTimeout bounds the wait for a free provider (exclusive kinds
	// only); zero means the balancer's default.
	QueueTimeout time.Duration
}

// Strategy is what every llm_router.strategies.* module provides.
type Strategy interface {
	Policy() Policy
}

// Policy returns p itself, so a Policy is a Strategy.
func (p Policy) Policy() Policy { return p }

// weightScale turns float weights into integers so smooth weighted round
// robin is exact in memory and in Redis' Lua alike.
const weightScale = 1000

// intWeights converts weights to scaled integers; weights that are not
// positive numbers count as 0, and if every weight is 0 all count as 1.
func intWeights(cs []Candidate, factor func(id string) float64, out []int64) []int64 {
	out = out[:0]
	pos := false
	for _, c := range cs {
		w := c.Weight
		if !(w > 0) || math.IsInf(w, 0) {
			w = 0
		}
		if factor != nil && w > 0 {
			w *= factor(c.ID)
		}
		n := int64(math.Round(w * weightScale))
		if w > 0 && n < 1 {
			n = 1
		}
		pos = pos || n > 0
		out = append(out, n)
	}
	if !pos {
		for i := range out {
			out[i] = weightScale
		}
	}
	return out
}

// Constants of the dynamic_weighted formula.
const (
	// EWMAAlpha is the smoothing factor of the latency and error averages.
	EWMAAlpha = 0.2
	// MinFactor is the least share of its configured weight a provider keeps,
	// so a slow or failing one still gets the odd request to prove recovery.
	MinFactor = 0.05
)

// ewma holds one provider's exponentially weighted averages.
type ewma struct {
	lat  float64 // seconds; 0 until the first sample
	errs float64 // 0..1
	n    int
}

func (e *ewma) add(lat time.Duration, failed bool) {
	f := 0.0
	if failed {
		f = 1
	}
	if e.n == 0 {
		e.errs = f
		if !failed {
			e.lat = lat.Seconds()
		}
	} else {
		e.errs += EWMAAlpha * (f - e.errs)
		if !failed { // a failure's latency says nothing about speed
			if e.lat == 0 {
				e.lat = lat.Seconds()
			} else {
				e.lat += EWMAAlpha * (lat.Seconds() - e.lat)
			}
		}
	}
	e.n++
}

// DynamicFactor is the dynamic_weighted formula. With lat the provider's
// latency EWMA, best the lowest latency EWMA among the model's candidates and
// errRate its failure EWMA (both with alpha EWMAAlpha), the effective weight is
//
//	weight × clamp((best/lat) × (1 − errRate), MinFactor, 1)
//
// A provider without observations keeps its configured weight (factor 1), so
// effective weights never exceed the configured ones.
func DynamicFactor(lat, best, errRate float64) float64 {
	f := 1 - errRate
	if lat > 0 && best > 0 {
		f *= best / lat
	}
	return math.Min(1, math.Max(MinFactor, f))
}
