// Package rdb opens the Redis client a router shares between balancing,
// rate limits and the API-key store: one client (one connection pool) per
// Redis identity, named by a key that never holds the password in the clear.
package rdb

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options locate a Redis server.
type Options struct {
	Host     string
	Port     int // 6379 when 0
	Password string
	DB       int
	TLS      bool        // connect over TLS (system roots)
	TLSConf  *tls.Config // optional custom TLS settings; implies TLS
}

// Addr returns host:port.
func (o Options) Addr() string {
	p := o.Port
	if p == 0 {
		p = 6379
	}
	return net.JoinHostPort(o.Host, strconv.Itoa(p))
}

// Validate reports options that cannot name a Redis.
func (o Options) Validate() error {
	if o.Host == "" {
		return errors.New("redis: host is empty")
	}
	if o.DB < 0 {
		return fmt.Errorf("redis: db %d is negative", o.DB)
	}
	return nil
}

// Identity names the Redis these options reach, as a key for a shared
// client: two options with the same identity can share one client. The
// password is in it as a hash, never in the clear.
func (o Options) Identity() string {
	id := fmt.Sprintf("%s|db=%d|tls=%t", o.Addr(), o.DB, o.TLS || o.TLSConf != nil)
	if o.TLSConf != nil {
		id += fmt.Sprintf("|tlsconf=%p", o.TLSConf)
	}
	if o.Password != "" {
		h := sha256.Sum256([]byte("llm-router redis password\x00" + o.Password))
		id += "|pw=" + hex.EncodeToString(h[:8])
	}
	return id
}

// String describes the target for logs, without the password.
func (o Options) String() string {
	return fmt.Sprintf("redis %s db %d", o.Addr(), o.DB)
}

// New opens a client. Timeouts are short: every caller (balancer, rate
// limiter, key store) falls back or answers an error rather than wait on
// a Redis that does not answer. The caller owns the client and closes it.
func (o Options) New() (redis.UniversalClient, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	ro := &redis.Options{
		Addr: o.Addr(), Password: o.Password, DB: o.DB,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		MaxRetries: 1, ContextTimeoutEnabled: true, DisableIdentity: true,
	}
	ro.TLSConfig = o.tlsConfig()
	return redis.NewClient(ro), nil
}

func (o Options) tlsConfig() *tls.Config {
	if o.TLSConf != nil {
		return o.TLSConf
	}
	if o.TLS {
		return &tls.Config{ServerName: o.Host, MinVersion: tls.VersionTLS12}
	}
	return nil
}
