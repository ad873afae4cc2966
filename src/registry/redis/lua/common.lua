-- The limiter script of the redis:// backend. The build concatenates common.lua, the op
-- files and main.lua into one script, loaded once (SCRIPT LOAD) and run with EVALSHA.
--
-- Every call names the eight keys of one limiter; they share the hash tag {PREFIX:NAME},
-- so a Redis Cluster keeps them in one slot:
--   s   hash  the limits: mc, mpw, ws (window seconds, as given), wus (window, us), mcpw;
--             the state: now (last server time used), seq (last grant id), tseq (last
--             ticket number), pen (penalty end), wsum (window cost), wk (announced
--             wake-up), hn / qn / wn (sizes of h / q / w); the statistics: acq, rej,
--             tmo, can, waitus. The limiter exists when s has mc.
--   h   zset  holders: grant id -> lease end
--   w   zset  window log: grant id -> grant time (only while the limiter has a window)
--   c   hash  window costs: grant id -> cost (only costs other than 1, only with mcpw)
--   q   zset  waiters: ticket -> ticket number (the order of service)
--   qe  zset  waiters: ticket -> lease end
--   qi  hash  waiters: ticket -> "cost enqueue-time"
--   g   zset  grants handed to a waiter and not released yet: ticket -> grant id
-- ARGV: op, the limiter's notification channel, the lease (us), then the op's arguments.
--
-- Time is the server's (TIME), in microseconds, never a client's; it is kept from
-- running backwards per limiter, so the window log stays ordered. Numbers go to
-- redis.call as numbers (the server writes integers exactly); inside strings they are
-- formatted with %d (fmt), as Lua's own tostring prints large ones in exponent form.
-- Globals are read once into locals: in the server's sandbox each global read costs
-- about as much as a dozen arithmetic operations.
--
-- Cost: only the op asked for is instantiated (each op file guards its function with
-- `if OP == ...`), s is read once (HMGET) and written once (HSET, in main.lua); sizes live
-- in s so the common path needs no ZCARD; expired holders are reclaimed only when the
-- holders fill the limit (they can only make it look fuller), expired tickets only when
-- someone waits. An uncontended acquire is 4 server calls, a release 3.
--
-- Invariants every op keeps, all in one atomic script run:
--   * hn = ZCARD(h), qn = ZCARD(q) = ZCARD(qe), wn = ZCARD(w): only the helpers below
--     change h, q, qe and w, and each updates its count;
--   * a grant is made only when, at one server time, live holders < mc, the window log
--     and cost sum leave room and no penalty runs;
--   * grants go to the head of q only, and to a new arrival only when q is empty.

local call, tonumber, ipairs, pairs, unpack = redis.call, tonumber, ipairs, pairs, unpack
local max, format = math.max, string.format
local K_S, K_H, K_W, K_C = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_Q, K_QE, K_QI, K_G = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local OP, CHANNEL = ARGV[1], ARGV[2]
local LEASE = tonumber(ARGV[3])
local BATCH = 512 -- entries per step when walking a long log (Lua's unpack has a limit)
local FIELDS = {'mc', 'mpw', 'wus', 'mcpw', 'ws', 'now', 'seq', 'tseq', 'pen', 'wsum', 'wk',
                'hn', 'qn', 'wn', 'acq', 'rej', 'tmo', 'can', 'waitus'}

local ops = {}
local S       -- the fields of s, as numbers (ws stays text); nil if the limiter is absent
local dirty = {}

local function fmt(n)
  return format('%d', n)
end

-- Reads s; false if the limiter does not exist.
local function load()
  local v = call('HMGET', K_S, unpack(FIELDS))
  if not v[1] then
    return false
  end
  S = {}
  for i, f in ipairs(FIELDS) do
    S[f] = tonumber(v[i]) or 0
  end
  S.ws = v[5]
  return true
end

local function set(field, value)
  S[field] = value
  dirty[field] = true
end

local function add(field, delta)
  set(field, S[field] + delta)
end

-- Writes what changed in s (main.lua calls it after every op).
local function flush()
  local args = {}
  for f in pairs(dirty) do
    args[#args + 1] = f
    args[#args + 1] = S[f] -- ws is text, the rest numbers
  end
  if #args > 0 then
    call('HSET', K_S, unpack(args))
  end
end

local function windowed()
  return S.mpw > 0 or S.mcpw > 0
end

local function server_now()
  local t = call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if now < S.now then
    return S.now
  end
  return now
end

-- ---- holders, tickets, window: the only writers of h, q/qe/qi and w ----

local function holder_add(id, lease_end)
  add('hn', call('ZADD', K_H, lease_end, id))
end

local function holder_del(id)
  local n = call('ZREM', K_H, id)
  add('hn', -n)
  return n
end

local function ticket_add(ticket, cost, now)
  add('tseq', 1)
  add('qn', call('ZADD', K_Q, S.tseq, ticket))
  call('ZADD', K_QE, now + LEASE, ticket)
  call('HSET', K_QI, ticket, fmt(cost) .. ' ' .. fmt(now))
end

local function ticket_del(ticket)
  local n = call('ZREM', K_Q, ticket)
  if n == 1 then
    add('qn', -1)
    call('ZREM', K_QE, ticket)
    call('HDEL', K_QI, ticket)
  end
  return n
end

local function ticket_info(ticket)
  local info = call('HGET', K_QI, ticket)
  if not info then
    return 1, nil
  end
  local cost, enq = string.match(info, '^(%d+) (%d+)$')
  return tonumber(cost), tonumber(enq)
end

-- Holders whose lease ended belong to processes that died (or stopped renewing); their
-- permits are given up. Only needed when the live holders might fill the limit.
local function reclaim_holders(now)
  local first = call('ZRANGE', K_H, 0, 0, 'WITHSCORES')
  if not first[2] or tonumber(first[2]) > now then
    return
  end
  local dead = call('ZRANGEBYSCORE', K_H, '-inf', now)
  for _, id in ipairs(dead) do
    call('ZREMRANGEBYSCORE', K_G, id, id)
  end
  add('hn', -call('ZREMRANGEBYSCORE', K_H, '-inf', now))
end

-- Tickets whose lease ended: their waiters died (or stopped renewing) and leave the line.
local function reclaim_tickets(now)
  if S.qn == 0 then
    return
  end
  local first = call('ZRANGE', K_QE, 0, 0, 'WITHSCORES')
  if first[2] and tonumber(first[2]) <= now then
    for _, ticket in ipairs(call('ZRANGEBYSCORE', K_QE, '-inf', now)) do
      ticket_del(ticket)
    end
  end
end

local function has_room(now)
  if S.hn < S.mc then
    return true
  end
  reclaim_holders(now)
  return S.hn < S.mc
end

-- Drops window entries that no longer count at `now`: an entry at t counts for every
-- grant at T with T - window <= t (boundaries included, as the local limiter).
local function evict(now)
  if S.wn == 0 then
    return
  end
  local last_out = now - S.wus - 1 -- scores are whole microseconds
  if S.mcpw > 0 then
    while true do
      local gone = call('ZRANGEBYSCORE', K_W, '-inf', last_out, 'LIMIT', 0, BATCH)
      if #gone == 0 then
        break
      end
      local costs = call('HMGET', K_C, unpack(gone))
      local sum = 0
      for i = 1, #gone do
        sum = sum + (tonumber(costs[i]) or 1)
      end
      call('HDEL', K_C, unpack(gone))
      add('wn', -call('ZREM', K_W, unpack(gone)))
      add('wsum', -sum)
    end
  else
    add('wn', -call('ZREMRANGEBYSCORE', K_W, '-inf', last_out))
  end
end

-- The earliest server time >= now at which the window, the cost limit and any penalty
-- allow a grant of `cost` (the concurrency limit is checked apart). An entry at t stops
-- counting at t + window + 1 us.
local function time_fit(cost, now)
  local at = max(now, S.pen)
  if not windowed() then
    return at
  end
  evict(now)
  if S.mpw > 0 and S.wn >= S.mpw then
    local e = call('ZRANGE', K_W, S.wn - S.mpw, S.wn - S.mpw, 'WITHSCORES')
    at = max(at, tonumber(e[2]) + S.wus + 1)
  end
  if S.mcpw > 0 then
    local excess = S.wsum + cost - S.mcpw
    local from = 0
    while excess > 0 do
      local e = call('ZRANGE', K_W, from, from + BATCH - 1, 'WITHSCORES')
      if #e == 0 then
        break
      end
      local ids = {}
      for i = 1, #e, 2 do
        ids[#ids + 1] = e[i]
      end
      local costs = call('HMGET', K_C, unpack(ids))
      for i = 1, #ids do
        excess = excess - (tonumber(costs[i]) or 1)
        if excess <= 0 then
          at = max(at, tonumber(e[2 * i]) + S.wus + 1)
          break
        end
      end
      from = from + BATCH
    end
  end
  return at
end

-- Records a grant and returns its id. Ids start at the limiter's creation time in us
-- and grow by one per grant, so they never repeat, not even when a limiter is removed
-- and created again under the same name.
local function grant(cost, now, lease_end)
  add('seq', 1)
  local id = S.seq
  holder_add(id, lease_end)
  if windowed() then
    add('wn', call('ZADD', K_W, now, id))
    if S.mcpw > 0 then
      if cost ~= 1 then
        call('HSET', K_C, id, cost)
      end
      add('wsum', cost)
    end
  end
  set('now', now)
  add('acq', 1)
  return id
end

-- Hands capacity to the waiters at the head of the line, in ticket order, as long as
-- the head fits. Each grant is published to the waiter's process (no round trip back).
-- Returns nil when nobody waits, else the server time at which the head could fit
-- (a number > now) or 'full' when only a release or a lease end can make room.
local function dispatch(now)
  reclaim_tickets(now)
  while S.qn > 0 do
    local head = call('ZRANGE', K_Q, 0, 0)[1]
    if not head then
      return redis.error_reply('ptl: queue size out of step') -- an invariant broke
    end
    local cost, enq = ticket_info(head)
    if S.mcpw > 0 and cost > S.mcpw then
      -- A reconfiguration shrank the cost limit below this waiter's cost: it can never
      -- be granted, and must not block the line.
      ticket_del(head)
      call('PUBLISH', CHANNEL, 'x ' .. head)
    else
      local at = time_fit(cost, now)
      if at > now then
        return at
      end
      if not has_room(now) then
        return 'full'
      end
      -- Until the waiter's process takes it over, the grant lives as long as the ticket
      -- would have: a waiter that died does not hold it for a full lease.
      local lease_end = tonumber(call('ZSCORE', K_QE, head))
      local id = grant(cost, now, lease_end)
      ticket_del(head)
      call('ZADD', K_G, id, head)
      if enq then
        add('waitus', now - enq)
      end
      call('PUBLISH', CHANNEL, 'g ' .. head .. ' ' .. fmt(id))
    end
  end
  return nil
end

-- Turns dispatch's answer into the caller's wake-up delay (us; -1 when nobody waits).
-- A head blocked by time is announced on the channel, once per moment, so that every
-- process with waiters sets a timer for it; a head blocked by the concurrency limit
-- waits for a release, or at the latest for the first lease to end.
local function wake_after(now, blocked)
  if blocked == nil then
    return -1
  end
  if blocked == 'full' then
    local first = call('ZRANGE', K_H, 0, 0, 'WITHSCORES')
    return max(tonumber(first[2]) - now, 0)
  end
  if S.wk <= now or S.wk > blocked then
    set('wk', blocked)
    call('PUBLISH', CHANNEL, 'w ' .. fmt(blocked - now))
  end
  return blocked - now
end
