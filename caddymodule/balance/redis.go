package balance

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmrouter/llm-router/caddymodule/rdb"
)

// RedisConfig locates the Redis shared by a fleet of routers
// (LLM_ROUTER_REDIS_HOST, _PORT, _PASSWORD, _DB).
type RedisConfig struct {
	rdb.Options // where Redis is; ignored when Client is set
	// Client, when set, is a client the caller owns and shares (with the
	// rate limiter and key store); the balancer then neither opens nor
	// closes one.
	Client redis.UniversalClient
	Prefix string // key prefix, "llmr:" when empty
}

// DefaultPrefix is the key prefix used when RedisConfig.Prefix is empty.
const DefaultPrefix = "llmr:"

// Scripts read the server clock (TIME) so routers need no synchronised
// clocks; redis.replicate_commands lets them write afterwards on Redis < 5
// (a no-op since Redis 7).

// acquireLua is memStore.acquire in Lua. ARGV: prefix, kind, model,
// token, ttl ms, then (id, host, weight) per candidate. Returns
// {1, index} acquired, {0, 0} busy, {-1, 0} nothing up.
var acquireLua = redis.NewScript(`
redis.replicate_commands()
local p, kind, model, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids, hosts, ws, ok = {}, {}, {}, {}
local n = (#ARGV - 5) / 3
for i = 1, n do
  local b = 5 + (i - 1) * 3
  ids[i], hosts[i], ws[i] = ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  if redis.call('EXISTS', p .. 'down:' .. ids[i], p .. 'cool:' .. ids[i]) == 0 then
    ok[#ok + 1] = i
  end
end
if #ok == 0 then return {-1, 0} end
local function live(id)
  local k = p .. 'flight:' .. id
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  return redis.call('ZCARD', k)
end
local pick = 0
if kind == 'balanced' then
  local sk = p .. 'served:' .. model
  local bf, bs = 0, 0
  for _, i in ipairs(ok) do
    local f = live(ids[i])
    local s = tonumber(redis.call('HGET', sk, ids[i]) or '0')
    if pick == 0 or f < bf or (f == bf and s < bs) then pick, bf, bs = i, f, s end
  end
  redis.call('HINCRBY', sk, ids[pick], 1)
elseif kind == 'weighted' then
  local wk = p .. 'swrr:' .. model
  local total, best = 0, 0
  local cur = {}
  for _, i in ipairs(ok) do
    local c = tonumber(redis.call('HGET', wk, ids[i]) or '0') + ws[i]
    cur[i] = c
    total = total + ws[i]
    if pick == 0 or c > best then pick, best = i, c end
  end
  cur[pick] = best - total
  local kv = {}
  for _, i in ipairs(ok) do
    kv[#kv + 1] = ids[i]
    kv[#kv + 1] = string.format('%d', cur[i])
  end
  redis.call('HSET', wk, unpack(kv))
else
  local last = ''
  if kind == 'affinity' then last = redis.call('GET', p .. 'last:' .. model) or '' end
  local bt = 0
  local tiers = {}
  for _, i in ipairs(ok) do
    if live(ids[i]) == 0 then
      local tr = 0
      if kind == 'affinity' then
        local h = hosts[i]
        tr = tiers[h]
        if tr == nil then
          local hk = p .. 'host:' .. h
          redis.call('ZREMRANGEBYSCORE', hk, '-inf', now)
          local other = false
          for _, m in ipairs(redis.call('ZRANGE', hk, 0, -1)) do
            if string.sub(m, 1, #model + 1) ~= model .. '\n' then other = true; break end
          end
          local warm = redis.call('GET', p .. 'warm:' .. h) or ''
          if other then tr = 4 elseif h == last then tr = 0
          elseif warm == model then tr = 1 elseif warm == '' then tr = 2 else tr = 3 end
          tiers[h] = tr
        end
      end
      if pick == 0 or tr < bt then pick, bt = i, tr end
    end
  end
  if pick == 0 then return {0, 0} end
  if kind == 'affinity' then
    local h = hosts[pick]
    redis.call('SET', p .. 'last:' .. model, h)
    redis.call('SET', p .. 'warm:' .. h, model)
    redis.call('ZADD', p .. 'host:' .. h, now + ttl, model .. '\n' .. token)
  end
end
redis.call('ZADD', p .. 'flight:' .. ids[pick], now + ttl, token)
return {1, pick}
`)

// releaseLua frees a lease. ARGV: prefix, id, token, host (empty unless
// affinity), model, cool-down ms (0: no passive health), origin (empty: no
// release message; else the message is "<id>\n<origin>"), result ("s"
// success, "f" failure, "" neither), failures in a row that cool the
// provider down, ms after which a run of failures lapses. Returns 1 if the
// lease was held.
var releaseLua = redis.NewScript(`
local p, id, token, host, model = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cool, origin = tonumber(ARGV[6]), ARGV[7]
local result, after, window = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local n = redis.call('ZREM', p .. 'flight:' .. id, token)
if host ~= '' then redis.call('ZREM', p .. 'host:' .. host, model .. '\n' .. token) end
if cool > 0 then
  local fk = p .. 'fails:' .. id
  if result == 'f' then
    local run = redis.call('INCR', fk)
    if run >= after then
      redis.call('SET', p .. 'cool:' .. id, '1', 'PX', cool)
      redis.call('DEL', fk)
    else
      redis.call('PEXPIRE', fk, window)
    end
  elseif result == 's' then
    redis.call('DEL', fk)
  end
end
if n == 1 and origin ~= '' then redis.call('PUBLISH', p .. 'released', id .. '\n' .. origin) end
return n
`)

// renewLua extends leases. ARGV: prefix, ttl ms, then (id, token, host,
// model) per lease.
var renewLua = redis.NewScript(`
redis.replicate_commands()
local p, ttl = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local exp = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
for b = 3, #ARGV, 4 do
  redis.call('ZADD', p .. 'flight:' .. ARGV[b], 'XX', exp, ARGV[b + 1])
  if ARGV[b + 2] ~= '' then
    redis.call('ZADD', p .. 'host:' .. ARGV[b + 2], 'XX', exp, ARGV[b + 3] .. '\n' .. ARGV[b + 1])
  end
end
return 1
`)

// inUseLua counts live leases of a provider. ARGV: prefix, id.
var inUseLua = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', ARGV[1] .. 'flight:' .. ARGV[2], '(' .. now, '+inf')
`)

var luaKind = map[Kind]string{
	Balanced: "balanced", Weighted: "weighted", DynamicWeighted: "weighted",
	FirstAvailable: "exclusive", FirstAvailableOptim: "affinity",
}

// redisStore keeps the balancing state in Redis; one script call per
// acquire and per release.
type redisStore struct {
	c     redis.UniversalClient
	owned bool // opened here, closed by close
	p     string
	ttl   time.Duration
	// route is the key scripts declare on a Cluster, so that the client
	// sends them to the node of the prefix's slot (all keys share it);
	// nil elsewhere (one argument less per call).
	route []string
}

func newRedisStore(cfg RedisConfig, ttl time.Duration) (*redisStore, error) {
	p := cfg.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	s := &redisStore{c: cfg.Client, p: p, ttl: ttl}
	if s.c == nil {
		c, err := cfg.Options.New()
		if err != nil {
			return nil, fmt.Errorf("balance: %w", err)
		}
		s.c, s.owned = c, true
	}
	if rdb.IsCluster(s.c) {
		if !strings.Contains(p, "{") {
			// One hash slot for every key: a script touches several.
			s.p = "{" + strings.TrimSuffix(p, ":") + "}:"
		}
		s.route = []string{s.p + "released"}
	}
	return s, nil
}

func (s *redisStore) ping(ctx context.Context) error {
	if err := rdb.CheckSlots(ctx, s.c, s.route...); err != nil {
		return fmt.Errorf("balance: %w", err)
	}
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("balance: redis ping: %w", err)
	}
	return nil
}

func (s *redisStore) close() error {
	if !s.owned {
		return nil
	}
	return s.c.Close()
}

func (s *redisStore) acquire(ctx context.Context, r *request) (int, error) {
	args := make([]any, 0, 5+3*len(r.cands))
	args = append(args, s.p, luaKind[r.kind], r.model, r.token, r.ttl.Milliseconds())
	for i, c := range r.cands {
		var w int64
		if r.weights != nil {
			w = r.weights[i]
		}
		args = append(args, c.ID, c.Host, w)
	}
	res, err := acquireLua.Run(ctx, s.c, s.route, args...).Int64Slice()
	if err != nil {
		return -1, fmt.Errorf("balance: redis acquire: %w", err)
	}
	if len(res) != 2 {
		return -1, fmt.Errorf("balance: redis acquire: unexpected reply %v", res)
	}
	switch res[0] {
	case 1:
		if i := int(res[1]) - 1; i >= 0 && i < len(r.cands) {
			return i, nil
		}
		return -1, fmt.Errorf("balance: redis acquire: index %d out of range", res[1])
	case 0:
		return -1, errBusy
	}
	return -1, ErrNoProvider
}

func (s *redisStore) release(ctx context.Context, l *Lease, h health) error {
	host, origin := "", ""
	if l.kind == FirstAvailableOptim {
		host = l.c.Host
	}
	if l.kind.exclusive() {
		origin = l.b.pre
	}
	result := ""
	switch h.result {
	case Success:
		result = "s"
	case Failure:
		result = "f"
	}
	err := releaseLua.Run(ctx, s.c, s.route, s.p, l.c.ID, l.token, host, l.model, h.cool.Milliseconds(), origin,
		result, h.after, h.window.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("balance: redis release: %w", err)
	}
	return nil
}

func (s *redisStore) renew(ctx context.Context, ls []*Lease, ttl time.Duration) error {
	args := make([]any, 0, 2+4*len(ls))
	args = append(args, s.p, ttl.Milliseconds())
	for _, l := range ls {
		host := ""
		if l.kind == FirstAvailableOptim {
			host = l.c.Host
		}
		args = append(args, l.c.ID, l.token, host, l.model)
	}
	if err := renewLua.Run(ctx, s.c, s.route, args...).Err(); err != nil {
		return fmt.Errorf("balance: redis renew: %w", err)
	}
	return nil
}

func (s *redisStore) mark(ctx context.Context, id string, ttl time.Duration) error {
	var err error
	if ttl > 0 {
		err = s.c.Set(ctx, s.p+"down:"+id, "1", ttl).Err()
	} else {
		err = s.c.Del(ctx, s.p+"down:"+id).Err()
	}
	if err != nil {
		return fmt.Errorf("balance: redis mark: %w", err)
	}
	return nil
}

func (s *redisStore) inUse(ctx context.Context, id string) (bool, error) {
	n, err := inUseLua.Run(ctx, s.c, s.route, s.p, id).Int64()
	if err != nil {
		return false, fmt.Errorf("balance: redis in-use: %w", err)
	}
	return n > 0, nil
}

// subscribe relays the "released" messages of other routers (not those
// from self, which wakes its waiters directly) to wake until ctx ends;
// go-redis resubscribes by itself after a reconnect. ready is closed once
// the subscription is confirmed (or could not be within a second).
func (s *redisStore) subscribe(ctx context.Context, self string, wake func(id string), ready chan<- struct{}) {
	ps := s.c.Subscribe(ctx, s.p+"released")
	defer ps.Close()
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	_, _ = ps.Receive(rctx) // the subscription confirmation
	cancel()
	close(ready)
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			id := m.Payload
			if i := strings.LastIndexByte(id, '\n'); i >= 0 {
				if id[i+1:] == self {
					continue
				}
				id = id[:i]
			}
			wake(id)
		}
	}
}
