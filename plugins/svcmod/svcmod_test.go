package svcmod

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestParseBlock(t *testing.T) {
	tests := []struct {
		in   string
		want []string // "opt arg…" per option seen
		err  string
	}{
		{in: "m", want: nil},
		{in: "m {\n}", want: nil},
		{in: "m {\n a 1 2\n b\n}", want: []string{"a 1 2", "b"}},
		{in: "m x", err: "wrong argument count"},
		{in: "m {\n a\n c 3\n}", err: `unknown m option "c", at Testfile:3`},
	}
	for _, tt := range tests {
		var got []string
		d := caddyfile.NewTestDispenser(tt.in)
		err := ParseBlock(d, func(opt string, args []string) error {
			if opt == "c" {
				return UnknownOption(d, "m", opt)
			}
			got = append(got, strings.Join(append([]string{opt}, args...), " "))
			return nil
		})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
