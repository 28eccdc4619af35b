package auth

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix starts the Redis keys of the RedisLimiter.
const DefaultRedisPrefix = "llm-router:"

// gcraLua decides and charges both limits of a key in one atomic step.
// KEYS: rpm timestamp, tpm timestamp. ARGV: now in µs ("" = Redis TIME),
// period µs, rpm, tpm, token cost. Returns {rpm wait, tpm wait} in µs;
// both <= 0 means admitted (and charged).
const gcraLua = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local period = tonumber(ARGV[2])
local function step(key, limit, cost)
  if limit <= 0 then return nil, 0 end
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local nxt = tat + math.floor(cost * period / limit)
  return nxt, nxt - now - period
end
local rn, rw = step(KEYS[1], tonumber(ARGV[3]), 1)
local tn, tw = step(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
if rw > 0 or tw > 0 then return {rw, tw} end
if rn then
  redis.call('SET', KEYS[1], string.format('%.0f', rn), 'PX', string.format('%.0f', math.ceil((rn - now) / 1000) + 1000))
end
if tn then
  redis.call('SET', KEYS[2], string.format('%.0f', tn), 'PX', string.format('%.0f', math.ceil((tn - now) / 1000) + 1000))
end
return {0, 0}
`

// settleLua moves the tpm timestamp by a token delta (refund when negative).
// KEYS: tpm timestamp. ARGV: now µs ("" = Redis TIME), period µs, tpm, delta.
const settleLua = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
tat = tat + math.floor(tonumber(ARGV[4]) * period / tonumber(ARGV[3]))
if tat <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', string.format('%.0f', math.ceil((tat - now) / 1000) + 1000))
return 0
`

// RedisLimiter is a Limiter shared by every router that uses the same Redis:
// each decision is one Lua script, atomic in Redis. Keys are
// {prefix}auth:rl:{<key name>}:rpm and :tpm (one hash slot per key, for
// Redis Cluster), and expire once their bucket is full again.
type RedisLimiter struct {
	c      redis.UniversalClient
	prefix string
	now    func() time.Time
	gcra   *redis.Script
	settle *redis.Script
}

// NewRedisLimiter returns a Limiter over c (which the caller owns). prefix
// starts its keys ("" = DefaultRedisPrefix). now is the clock; nil uses the
// Redis server's clock, so routers on different hosts share one time.
func NewRedisLimiter(c redis.UniversalClient, prefix string, now func() time.Time) *RedisLimiter {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &RedisLimiter{c: c, prefix: prefix, now: now,
		gcra: redis.NewScript(gcraLua), settle: redis.NewScript(settleLua)}
}

func (l *RedisLimiter) keys(k *Key) []string {
	base := l.prefix + "auth:rl:{" + k.Name + "}:"
	return []string{base + "rpm", base + "tpm"}
}

func (l *RedisLimiter) nowArg() string {
	if l.now == nil {
		return ""
	}
	return strconv.FormatInt(l.now().UnixMicro(), 10)
}

// Allow implements Limiter.
func (l *RedisLimiter) Allow(ctx context.Context, k *Key, estTokens int) (time.Duration, error) {
	p := k.Policy
	if p.RPM <= 0 && p.TPM <= 0 {
		return 0, nil
	}
	res, err := l.gcra.Run(ctx, l.c, l.keys(k), l.nowArg(), window.Microseconds(),
		p.RPM, p.TPM, charge(estTokens, p.TPM)).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("auth: rate limiter: %w", err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("auth: rate limiter: unexpected reply %v", res)
	}
	if wait := max(res[0], res[1]); wait > 0 {
		d := time.Duration(wait) * time.Microsecond
		return d, limitError(k, res[0], res[1], d)
	}
	return 0, nil
}

// Settle implements Limiter.
func (l *RedisLimiter) Settle(ctx context.Context, k *Key, estTokens, actualTokens int) error {
	limit := k.Policy.TPM
	delta := actualTokens - charge(estTokens, limit)
	if limit <= 0 || delta == 0 {
		return nil
	}
	err := l.settle.Run(ctx, l.c, l.keys(k)[1:], l.nowArg(), window.Microseconds(), limit, delta).Err()
	if err != nil {
		return fmt.Errorf("auth: rate limiter: %w", err)
	}
	return nil
}
