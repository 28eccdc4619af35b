package protocol

import "testing"

func TestStreamOptionsNames(t *testing.T) {
	minted := 0
	mint := func(prefix string) string { minted++; return prefix + "new" }
	start := &Event{Kind: EvStart, Model: "upstream"}
	cases := []struct {
		opts            StreamOptions
		model, id       string
		mintedAfterCall int
	}{
		{StreamOptions{NewID: mint}, "upstream", "msg_new", 1},
		{StreamOptions{Model: "client", ID: "msg_given", NewID: mint}, "client", "msg_given", 0},
	}
	for _, c := range cases {
		minted = 0
		if got := c.opts.ModelFor(start); got != c.model {
			t.Errorf("ModelFor with %+v = %q, want %q", c.opts, got, c.model)
		}
		if got := c.opts.ResponseID("msg_"); got != c.id || minted != c.mintedAfterCall {
			t.Errorf("ResponseID with %+v = %q (%d minted), want %q (%d)", c.opts, got, minted, c.id, c.mintedAfterCall)
		}
	}
}
