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

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string // substring of the error; "" = valid
	}{
		{Options{Host: "h"}, ""},
		{Options{Sentinels: []string{"a:26379", "b:26379"}, MasterName: "mymaster", DB: 2}, ""},
		{Options{Cluster: []string{"a:7000"}}, ""},
		{Options{}, "host is empty"},
		{Options{Host: "h", DB: -1}, "negative"},
		{Options{Sentinels: []string{"a:26379"}}, "master name"},
		{Options{Host: "h", MasterName: "m"}, "needs sentinels"},
		{Options{Sentinels: []string{"a"}, MasterName: "m"}, `sentinel address "a": want host:port`},
		{Options{Cluster: []string{"a:0"}}, "bad port"},
		{Options{Cluster: []string{"a:7000"}, DB: 1}, "only db 0"},
		{Options{Cluster: []string{"a:7000"}, Sentinels: []string{"b:1"}, MasterName: "m"}, "not both"},
	} {
		err := tc.o.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
	if got := ParseAddrs(" a:1, b:2,,c:3 "); strings.Join(got, "|") != "a:1|b:2|c:3" {
		t.Errorf("ParseAddrs = %q", got)
	}
	s, c := Options{Sentinels: []string{"a:1", "b:2"}, MasterName: "m", Password: "pw"}, Options{Sentinels: []string{"b:2", "a:1"}, MasterName: "m", Password: "pw"}
	if s.Identity() != c.Identity() {
		t.Error("the order of the sentinels must not make another identity")
	}
	if s.Identity() == (Options{Sentinels: []string{"a:1", "b:2"}, MasterName: "other", Password: "pw"}).Identity() {
		t.Error("another master name, same identity")
	}
}
