package auth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		in      string
		want    Config
		wantErr string
	}{
		{in: `auth`, want: Config{Enabled: true}},
		{in: `auth off`, want: Config{}},
		{in: `auth false`, want: Config{}},
		{in: `auth yes {
			store redis
			redis_key fleet:keys
			keys_file /tmp/k.json
			prefix /llm
			public /llm/ping,/llm/version /health
			poll 500ms
		}`, want: Config{Enabled: true, Store: "redis", RedisKey: "fleet:keys", KeysFile: "/tmp/k.json", Prefix: "/llm",
			PublicPaths: []string{"/llm/ping", "/llm/version", "/health"}, Poll: 500 * time.Millisecond}},
		{in: "auth {\n public \n}", want: Config{Enabled: true, PublicPaths: []string{}}},
		{in: `auth maybe`, wantErr: `"maybe" is not on or off`},
		{in: `auth on off`, wantErr: "wrong argument count"},
		{in: "auth {\n store vault\n}", wantErr: `store "vault": want file or redis`},
		{in: "auth {\n poll -1s\n}", wantErr: "want a positive duration"},
		{in: "auth {\n keys_file a b\n}", wantErr: "keys_file takes one value"},
		{in: "auth {\n keyfile x\n}", wantErr: `unknown option "keyfile"`},
	}
	for _, tt := range tests {
		d := caddyfile.NewTestDispenser(tt.in)
		d.Next()
		var c Config
		err := c.UnmarshalCaddyfile(d)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		got, _ := json.Marshal(c)
		want, _ := json.Marshal(tt.want)
		if err != nil || string(got) != string(want) {
			t.Errorf("%q: got %s, %v; want %s", tt.in, got, err, want)
		}
	}
}
