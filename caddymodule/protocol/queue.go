package protocol

// EventQueue holds the events one provider line turned into, for a stream
// decoder's Next to hand out one at a time. The zero value is ready to use.
type EventQueue struct {
	q []Event
	i int
}

// Push queues ev.
func (e *EventQueue) Push(ev Event) {
	if e.q == nil {
		e.q = make([]Event, 0, 4) // a line rarely yields more
	}
	e.q = append(e.q, ev)
}

// Pop returns the next queued event; when none is left it empties the
// queue (keeping its storage) and reports false.
func (e *EventQueue) Pop() (Event, bool) {
	if e.i < len(e.q) {
		ev := e.q[e.i]
		e.i++
		return ev, true
	}
	e.Clear()
	return Event{}, false
}

// Clear drops the queued events.
func (e *EventQueue) Clear() { e.q, e.i = e.q[:0], 0 }
