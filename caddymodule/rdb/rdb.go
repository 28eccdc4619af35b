// Package rdb opens the Redis client a router shares between balancing,
// rate limits and the API-key store: one client (one connection pool) per
// Redis identity, named by a key that never holds the password in the clear.
// The Redis is one server, a primary watched by Redis Sentinel (go-redis's
// failover client follows its promotions), or a Redis Cluster.
package rdb

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options locate a Redis: one server (Host, Port), a Sentinel-managed
// primary (Sentinels, MasterName) or a Cluster (Cluster). Password, DB and
// TLS apply to the data nodes in every mode (a Cluster has only db 0).
type Options struct {
	Host     string
	Port     int // 6379 when 0
	Password string
	DB       int
	TLS      bool        // connect over TLS (system roots)
	TLSConf  *tls.Config // optional custom TLS settings; implies TLS
	// Sentinels are the host:port addresses of Redis Sentinels watching
	// the primary named MasterName.
	Sentinels  []string
	MasterName string
	// Cluster lists host:port addresses of Redis Cluster nodes (seeds:
	// the client discovers the others).
	Cluster []string
}

// Mode names the kind of Redis: "server", "sentinel" or "cluster".
func (o Options) Mode() string {
	switch {
	case len(o.Cluster) > 0:
		return "cluster"
	case len(o.Sentinels) > 0:
		return "sentinel"
	}
	return "server"
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
	if o.DB < 0 {
		return fmt.Errorf("redis: db %d is negative", o.DB)
	}
	if len(o.Cluster) > 0 && len(o.Sentinels) > 0 {
		return errors.New("redis: set either sentinels or cluster, not both")
	}
	switch o.Mode() {
	case "cluster":
		if o.DB != 0 {
			return fmt.Errorf("redis: a Redis Cluster has only db 0, not db %d", o.DB)
		}
		return addrs("cluster", o.Cluster)
	case "sentinel":
		if o.MasterName == "" {
			return errors.New("redis: sentinels need the master name (LLM_ROUTER_REDIS_MASTER_NAME, or master_name in the redis block)")
		}
		return addrs("sentinel", o.Sentinels)
	}
	if o.MasterName != "" {
		return errors.New("redis: master_name needs sentinels (LLM_ROUTER_REDIS_SENTINELS)")
	}
	if o.Host == "" {
		return errors.New("redis: host is empty")
	}
	return nil
}

// addrs checks a list of host:port addresses.
func addrs(what string, list []string) error {
	for _, a := range list {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return fmt.Errorf("redis: %s address %q: want host:port", what, a)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("redis: %s address %q: bad port", what, a)
		}
	}
	return nil
}

// ParseAddrs splits a comma- or space-separated address list, dropping
// empty entries.
func ParseAddrs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// Identity names the Redis these options reach, as a key for a shared
// client: two options with the same identity can share one client. The
// password is in it as a hash, never in the clear.
func (o Options) Identity() string {
	var id string
	switch o.Mode() {
	case "cluster":
		id = "cluster=" + strings.Join(sorted(o.Cluster), ",")
	case "sentinel":
		id = "sentinel=" + strings.Join(sorted(o.Sentinels), ",") + "|master=" + o.MasterName
	default:
		id = o.Addr()
	}
	id += fmt.Sprintf("|db=%d|tls=%t", o.DB, o.TLS || o.TLSConf != nil)
	if o.TLSConf != nil {
		id += fmt.Sprintf("|tlsconf=%p", o.TLSConf)
	}
	if o.Password != "" {
		h := sha256.Sum256([]byte("llm-router redis password\x00" + o.Password))
		id += "|pw=" + hex.EncodeToString(h[:8])
	}
	return id
}

func sorted(list []string) []string {
	c := slices.Clone(list)
	slices.Sort(c)
	return c
}

// String describes the target for logs, without the password.
func (o Options) String() string {
	switch o.Mode() {
	case "cluster":
		return "redis cluster " + strings.Join(o.Cluster, ",")
	case "sentinel":
		return fmt.Sprintf("redis primary %q of sentinels %s db %d", o.MasterName, strings.Join(o.Sentinels, ","), o.DB)
	}
	return fmt.Sprintf("redis %s db %d", o.Addr(), o.DB)
}

// Timeouts are short: every caller (balancer, rate limiter, key store)
// falls back or answers an error rather than wait on a Redis that does not
// answer.
const (
	dialTimeout = time.Second
	ioTimeout   = time.Second
)

// New opens a client: a *redis.Client for one server, go-redis's failover
// client (which asks the sentinels for the current primary, and follows a
// promotion) for Sentinel, a *redis.ClusterClient for a Cluster. The caller
// owns the client and closes it.
func (o Options) New() (redis.UniversalClient, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	switch o.Mode() {
	case "cluster":
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: o.Cluster, Password: o.Password, TLSConfig: o.tlsConfig(""),
			DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
			MaxRetries: 1, MaxRedirects: 3, ContextTimeoutEnabled: true, DisableIdentity: true,
		}), nil
	case "sentinel":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: o.MasterName, SentinelAddrs: o.Sentinels,
			Password: o.Password, DB: o.DB, TLSConfig: o.tlsConfig(""),
			DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
			MaxRetries: 1, ContextTimeoutEnabled: true, DisableIdentity: true,
		}), nil
	}
	return redis.NewClient(&redis.Options{
		Addr: o.Addr(), Password: o.Password, DB: o.DB, TLSConfig: o.tlsConfig(o.Host),
		DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
		MaxRetries: 1, ContextTimeoutEnabled: true, DisableIdentity: true,
	}), nil
}

// tlsConfig is nil without TLS; serverName empty lets crypto/tls take each
// node's host from the address it dials.
func (o Options) tlsConfig(serverName string) *tls.Config {
	if o.TLSConf != nil {
		return o.TLSConf
	}
	if o.TLS {
		return &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	}
	return nil
}

// IsCluster reports whether c talks to a Redis Cluster.
func IsCluster(c redis.UniversalClient) bool {
	_, ok := c.(*redis.ClusterClient)
	return ok
}

// CheckSlots reports, for a Cluster client, a key whose hash slot no node
// serves (a cluster whose slots were never all assigned, or that lost a
// shard without a replica), so that the caller can say so plainly instead
// of failing with go-redis's "cluster has no nodes" or CLUSTERDOWN. It asks
// the seed nodes directly, as the cluster client cannot route anything
// before the slots are known. Other clients: nil.
func CheckSlots(ctx context.Context, c redis.UniversalClient, keys ...string) error {
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return nil
	}
	o := cc.Options()
	var last error
	for _, addr := range o.Addrs {
		seed := redis.NewClient(&redis.Options{Addr: addr, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
			DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout, MaxRetries: -1, DisableIdentity: true})
		err := checkSlots(ctx, seed, keys)
		_ = seed.Close()
		if err == nil || errors.Is(err, errSlot) {
			return err
		}
		last = err
	}
	return fmt.Errorf("redis cluster: no seed node answers: %w", last)
}

var errSlot = errors.New("hash slot not served")

func checkSlots(ctx context.Context, seed *redis.Client, keys []string) error {
	ranges, err := seed.ClusterSlots(ctx).Result()
	if err != nil {
		return err
	}
	for _, k := range keys {
		slot, err := seed.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(ranges, func(r redis.ClusterSlot) bool {
			return int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0
		}) {
			return fmt.Errorf("redis cluster: no node serves hash slot %d (key %q): %w; assign every slot to a master (redis-cli --cluster create, or --cluster fix)", slot, k, errSlot)
		}
	}
	return nil
}
