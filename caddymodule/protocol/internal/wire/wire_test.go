package wire

import (
	"encoding/json"
	"testing"
)

func TestObjectArgs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{``, `{}`},
		{"  \n", `{}`},
		{` {"city":"Oslo"} `, `{"city":"Oslo"}`},
		{`[1,2]`, `{"arguments":[1,2]}`},
		{`"Oslo"`, `{"arguments":"Oslo"}`},
	} {
		if got := ObjectArgs(json.RawMessage(c.in)); string(got) != c.want {
			t.Errorf("ObjectArgs(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}
