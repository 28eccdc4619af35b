package rdb

import (
	"strings"
	"testing"
)

func TestIdentity(t *testing.T) {
	base := Options{Host: "10.0.0.9", Port: 6380, Password: "s3cret-pw", DB: 2}
	if base.Identity() != base.Identity() {
		t.Fatal("identity is not stable")
	}
	if strings.Contains(base.Identity(), "s3cret-pw") {
		t.Fatalf("identity %q holds the password in the clear", base.Identity())
	}
	// Each of these reaches another Redis (or logs in as someone else), so
	// it must not share a client with base.
	others := map[string]Options{
		"host":     {Host: "10.0.0.8", Port: 6380, Password: "s3cret-pw", DB: 2},
		"port":     {Host: "10.0.0.9", Port: 6379, Password: "s3cret-pw", DB: 2},
		"db":       {Host: "10.0.0.9", Port: 6380, Password: "s3cret-pw", DB: 3},
		"password": {Host: "10.0.0.9", Port: 6380, Password: "other", DB: 2},
		"tls":      {Host: "10.0.0.9", Port: 6380, Password: "s3cret-pw", DB: 2, TLS: true},
	}
	for name, o := range others {
		if o.Identity() == base.Identity() {
			t.Errorf("another %s, same identity %q", name, o.Identity())
		}
	}
	if (Options{Host: "h"}).Identity() != (Options{Host: "h", Port: 6379}).Identity() {
		t.Error("the default port must name the same Redis as 6379")
	}
}
