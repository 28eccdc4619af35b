package auth

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestHAClientEnv checks that the keys CLI's Sentinel client takes the
// password, db and TLS switch from the router's variables, and that a bad
// db is refused by name without repeating the password.
func TestHAClientEnv(t *testing.T) {
	t.Setenv("LLM_ROUTER_REDIS_PASSWORD", "s3cret")
	t.Setenv("LLM_ROUTER_REDIS_TLS", "TRUE")
	tests := []struct {
		db      string
		wantDB  int
		wantErr string
	}{
		{"", 0, ""},
		{" 3 ", 3, ""},
		{"three", 0, "LLM_ROUTER_REDIS_DB"},
	}
	for _, tt := range tests {
		t.Setenv("LLM_ROUTER_REDIS_DB", tt.db)
		rc, err := haClient("127.0.0.1:1", "mymaster", "")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("db %q: error %v, want one naming %s", tt.db, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("db %q: %v", tt.db, err)
			continue
		}
		c, ok := rc.(*redis.Client)
		if !ok {
			t.Fatalf("db %q: client is %T, want a failover *redis.Client", tt.db, rc)
		}
		o := c.Options()
		if o.DB != tt.wantDB || o.Password != "s3cret" || o.TLSConfig == nil {
			t.Errorf("db %q: DB %d password set %v TLS %v, want DB %d, the password and TLS", tt.db, o.DB, o.Password == "s3cret", o.TLSConfig != nil, tt.wantDB)
		}
		_ = rc.Close()
	}
}
