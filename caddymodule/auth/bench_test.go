package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// benchAuth returns an Authenticator over n keys and one valid secret.
func benchAuth(b *testing.B, n int) (*Authenticator, string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "keys.json")
	var recs []Record
	var secret string
	for i := range n {
		var err error
		if secret, err = NewSecret(); err != nil {
			b.Fatal(err)
		}
		recs = append(recs, Record{Name: fmt.Sprint("key", i), SHA256: HashSecret(secret),
			Policy: Policy{Models: []string{"llama3", "gpt-4o*"}, Endpoints: families[:]}})
	}
	doc, err := json.Marshal(document{Keys: recs})
	if err != nil {
		b.Fatal(err)
	}
	if err := (&fileStore{path: path}).save(context.Background(), doc, missing); err != nil {
		b.Fatal(err)
	}
	a, err := New(context.Background(), Config{KeysFile: path})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	return a, secret
}

func BenchmarkAuthenticate(b *testing.B) {
	for _, n := range []int{1, 1000} {
		a, secret := benchAuth(b, n)
		r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		b.Run(fmt.Sprint("keys=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAuthenticateParallel(b *testing.B) {
	a, secret := benchAuth(b, 1000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		for pb.Next() {
			if _, err := a.Authenticate(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkKeyAllow(b *testing.B) {
	c, _ := compile(Policy{Models: []string{"llama3", "mistral", "gpt-4o*", "meta-llama/*"}, Endpoints: families[:]})
	k := &Key{Name: "k", pol: c}
	for _, model := range []string{"llama3", "meta-llama/Llama-3-8B", "forbidden-model"} {
		b.Run(model, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = k.AllowsModel(model)
			}
		})
	}
}

func BenchmarkMemoryLimiter(b *testing.B) {
	l := NewMemoryLimiter(nil)
	k := testKeyB(b, Policy{RPM: 1 << 40, TPM: 1 << 40})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Allow(ctx, k, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRedisLimiter(b *testing.B) {
	c := startRedis(b)
	l := NewRedisLimiter(c, "", nil)
	k := testKeyB(b, Policy{RPM: 1 << 40, TPM: 1 << 40})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Allow(ctx, k, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func testKeyB(b *testing.B, p Policy) *Key {
	c, err := compile(p)
	if err != nil {
		b.Fatal(err)
	}
	return &Key{Name: "bench", Policy: p, pol: c}
}
