package balance

import (
	"container/list"
	"slices"
	"sync"
)

// waiter is one request queued for an exclusive provider.
type waiter struct {
	model string
	ids   []string
	ch    chan struct{} // capacity 1: a pending wake-up
	e     *list.Element
}

func (w *waiter) wants(id string) bool { return slices.Contains(w.ids, id) }

// queue is the FIFO of requests waiting for a provider lease. A release
// wakes the oldest waiter that can use the freed provider; a waiter that
// wins a lease passes the baton to the next one, so a wake-up is never
// lost and nobody polls.
type queue struct {
	mu sync.Mutex
	l  list.List
}

// ahead reports whether requests for the model are already waiting (a new
// arrival then queues behind them instead of barging in).
func (q *queue) ahead(model string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for e := q.l.Front(); e != nil; e = e.Next() {
		if e.Value.(*waiter).model == model {
			return true
		}
	}
	return false
}

// join queues a waiter and reports whether others for the model were
// already queued (atomically, so the baton they pass on leaving reaches it).
func (q *queue) join(model string, cs []Candidate) (*waiter, bool) {
	w := &waiter{model: model, ids: make([]string, len(cs)), ch: make(chan struct{}, 1)}
	for i, c := range cs {
		w.ids[i] = c.ID
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	ahead := false
	for e := q.l.Front(); e != nil && !ahead; e = e.Next() {
		ahead = e.Value.(*waiter).model == model
	}
	w.e = q.l.PushBack(w)
	return w, ahead
}

// leave removes w and passes the baton to the next waiter that wants one
// of its providers: after a win the next may find another provider free,
// and a wake-up w received but did not use must not be lost.
func (q *queue) leave(w *waiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.l.Remove(w.e)
	q.pass(w.ids)
}

// pass wakes the first waiter that wants any of ids. If that waiter already
// has a wake-up pending, nobody else is woken: it is about to try and, when
// it wins, passes the baton on leaving. Waking the next one instead would
// let a later waiter overtake it. q.mu must be held.
func (q *queue) pass(ids []string) {
	for e := q.l.Front(); e != nil; e = e.Next() {
		w := e.Value.(*waiter)
		for _, id := range ids {
			if w.wants(id) {
				if len(w.ch) == 0 {
					w.ch <- struct{}{}
				}
				return
			}
		}
	}
}

// wake tells the oldest interested waiter that provider id is free.
func (q *queue) wake(id string) {
	q.mu.Lock()
	q.pass([]string{id})
	q.mu.Unlock()
}

// wakeAll nudges every waiter (after a backend switch, when state may have
// changed wholesale).
func (q *queue) wakeAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for e := q.l.Front(); e != nil; e = e.Next() {
		w := e.Value.(*waiter)
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.l.Len()
}
