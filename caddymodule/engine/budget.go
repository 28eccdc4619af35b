package engine

import (
	"errors"
	"sync/atomic"
)

// answerAllowance is what one provider answer may buffer without drawing on
// the shared budget: a chat completion fits in it.
const answerAllowance = 256 << 10

// errBusy is returned when an answer needs more of the shared budget than
// is left.
var errBusy = errors.New("the budget of buffered provider answers is spent")

// answerBudget bounds the bytes of provider answers that all requests hold
// at once beyond their allowance: max_response_body in all. An answer of
// up to max_response_body fits, and a provider that sends endless answers
// to many requests at once costs the router max_response_body plus an
// allowance per request, not max_response_body per request; large answers
// that arrive together beyond it are refused (503, Retry-After) rather
// than risk the router. It belongs to the Engine of one loaded
// configuration (a reload starts a fresh one while the old config's
// requests finish on theirs).
type answerBudget struct {
	used atomic.Int64
	max  int64
}

// grant is what one answer has drawn from a budget. A nil grant (or one on
// a nil budget) has no shared bound.
type grant struct {
	b    *answerBudget
	held int64
}

// need makes sure the grant covers an answer of total bytes, drawing what
// it lacks beyond the allowance from the budget; false when the budget
// cannot give it.
func (g *grant) need(total int64) bool {
	if g == nil || g.b == nil {
		return true
	}
	more := total - answerAllowance - g.held
	if more <= 0 {
		return true
	}
	for {
		u := g.b.used.Load()
		if u+more > g.b.max {
			return false
		}
		if g.b.used.CompareAndSwap(u, u+more) {
			g.held += more
			return true
		}
	}
}

// release gives everything the grant holds back to the budget.
func (g *grant) release() {
	if g == nil || g.b == nil || g.held == 0 {
		return
	}
	g.b.used.Add(-g.held)
	g.held = 0
}
