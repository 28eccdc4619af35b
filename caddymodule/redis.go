package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/env"
	"github.com/llmrouter/llm-router/caddymodule/rdb"
)

// RedisOptions locate the Redis shared by several router instances: one
// server (Host), a primary managed by Redis Sentinel (Sentinels and
// MasterName) or a Redis Cluster (Cluster).
type RedisOptions struct {
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	// Password may be a placeholder ({env.NAME}, {file./path}); it is
	// resolved at provisioning so the autosaved config never holds it.
	Password string `json:"password,omitempty"`
	DB       int    `json:"db,omitempty"`
	TLS      bool   `json:"tls,omitempty"`
	// Sentinels are host:port addresses of the Sentinels that watch the
	// primary called MasterName (LLM_ROUTER_REDIS_SENTINELS,
	// LLM_ROUTER_REDIS_MASTER_NAME).
	Sentinels  []string `json:"sentinels,omitempty"`
	MasterName string   `json:"master_name,omitempty"`
	// Cluster lists host:port seed nodes of a Redis Cluster
	// (LLM_ROUTER_REDIS_CLUSTER).
	Cluster []string `json:"cluster,omitempty"`
}

// redisFromEnv turns the LLM_ROUTER_REDIS_* variables into options: nil
// when none of _HOST, _SENTINELS and _CLUSTER is set.
func redisFromEnv(r env.Redis) (*RedisOptions, error) {
	if r.Host == "" && len(r.Sentinels) == 0 && len(r.Cluster) == 0 {
		if r.MasterName != "" {
			return nil, errors.New("LLM_ROUTER_REDIS_MASTER_NAME is set but LLM_ROUTER_REDIS_SENTINELS is empty")
		}
		return nil, nil
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return &RedisOptions{Host: r.Host, Port: r.Port, Password: r.Password, DB: r.DB, TLS: r.TLS,
		Sentinels: r.Sentinels, MasterName: r.MasterName, Cluster: r.Cluster}, nil
}

type sharedRedis struct{ redis.UniversalClient }

func (s sharedRedis) Destruct() error { return s.Close() }

// openRedis returns the client of the configured Redis from the
// reload-surviving pool, and the Redis identity it is keyed by (password
// hashed): balancing, rate limits and the key store share this one client,
// and a reload that points elsewhere gets a new one while the old one is
// closed with the last config that used it.
func (a *App) openRedis() (redis.UniversalClient, string, error) {
	o := rdb.Options{Host: a.Redis.Host, Port: a.Redis.Port, DB: a.Redis.DB, TLS: a.Redis.TLS,
		Password:  caddy.NewReplacer().ReplaceAll(a.Redis.Password, ""),
		Sentinels: a.Redis.Sentinels, MasterName: a.Redis.MasterName, Cluster: a.Redis.Cluster}
	if o.Mode() != "server" {
		o.Host, o.Port = "", 0 // a host beside sentinels or a cluster is not used
	}
	if err := o.Validate(); err != nil {
		return nil, "", err
	}
	a.logger.Info("shared state in Redis", zap.String("redis", o.String()))
	id := o.Identity()
	key := "redis|" + id
	v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		c, err := o.New()
		if err != nil {
			return nil, err
		}
		return sharedRedis{c}, nil
	})
	if err != nil {
		return nil, "", err
	}
	a.poolKeys = append(a.poolKeys, key)
	a.redis = v.(sharedRedis).UniversalClient
	a.redisID = id
	return a.redis, id, nil
}
