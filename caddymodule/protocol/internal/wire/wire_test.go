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

func TestSniffImage(t *testing.T) {
	for _, c := range []struct{ b64, want string }{
		{"iVBORw0KGgoAAAANSUhEUg", "image/png"},
		{"/9j/4AAQSkZJRg", "image/jpeg"},
		{"R0lGODlhAQABAIAAAP", "image/gif"},
		{"UklGRiQAAABXRUJQ", "image/webp"},
		{"AAAAIGZ0eXBhdmlm", ""}, // AVIF: not one Anthropic takes
		{"", ""},
	} {
		if got := SniffImage(c.b64); got != c.want {
			t.Errorf("SniffImage(%q) = %q, want %q", c.b64, got, c.want)
		}
	}
}
