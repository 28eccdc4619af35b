package fastmasker

import (
	"context"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestModuleCaddyfile(t *testing.T) {
	tests := []struct {
		name, in string
		only     []string
		disabled []string
		wantErr  bool
	}{
		{"empty", "fast_masker", nil, nil, false},
		{"disable", "fast_masker {\n disable EMAIL phone\n}", nil, []string{"EMAIL", "phone"}, false},
		{"only", "fast_masker {\n only PESEL NIP\n disable NIP\n}", []string{"PESEL", "NIP"}, []string{"NIP"}, false},
		{"unknown tag", "fast_masker {\n disable NOPE\n}", nil, nil, true},
		{"unknown option", "fast_masker {\n foo EMAIL\n}", nil, nil, true},
		{"inline arg", "fast_masker EMAIL", nil, nil, true},
		{"no args", "fast_masker {\n disable\n}", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mo Module
			err := mo.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(mo.Only) != len(tt.only) || len(mo.Disabled) != len(tt.disabled) {
				t.Fatalf("got only %v disabled %v", mo.Only, mo.Disabled)
			}
		})
	}
}

func TestModuleMaskTexts(t *testing.T) {
	mo := Module{Disabled: []string{"PHONE"}}
	if err := mo.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := mo.Validate(); err != nil {
		t.Fatal(err)
	}
	out, mp, err := mo.MaskTexts(context.Background(), []string{"jan@example.com 600 700 800", "jan@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != "{EMAIL_1} 600 700 800" || out[1] != "{EMAIL_1}" || mp["EMAIL_1"] != "jan@example.com" || len(mp) != 1 {
		t.Fatalf("got %q %v", out, mp)
	}

	bad := Module{Disabled: []string{"NOPE"}}
	if err := bad.Provision(caddy.Context{}); err == nil {
		t.Error("unknown tag accepted")
	}
	none := Module{Only: []string{"EMAIL"}, Disabled: []string{"EMAIL"}}
	if err := none.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := none.Validate(); err == nil {
		t.Error("a masker with no rule passed validation")
	}
}
