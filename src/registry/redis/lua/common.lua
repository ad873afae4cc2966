-- The limiter code of the redis:// backend. The build joins common.lua, the op files and
-- main.lua into one body and wraps it twice (embed_lua.cmake): as a library of Redis
-- functions (FUNCTION LOAD once, then FCALL), used where the server has them (7.0 and
-- later), and as one script (SCRIPT LOAD, EVALSHA) for older servers and for users the
-- server lets run scripts only. Both run the same code with the same keys and arguments.
--
-- Every call names the nine keys of one limiter; they share the hash tag {PREFIX:NAME},
-- so a Redis Cluster keeps them in one slot:
--   s   hash  mc, mpw, ws (window seconds, as given), mcpw: the limits, for readers of
--             the config (written only by reg); b: the limits and the state packed as
--             18 little-endian doubles (struct, format F below, the order of the locals
--             below). The limiter exists when s has mc.
--   h   zset  holders: grant id -> grant time
--   w   zset  window log: grant id -> grant time (only while the limiter has a window)
--   c   hash  window costs: grant id -> cost (only costs other than 1, only with mcpw)
--   q   zset  waiters: ticket -> ticket number (the order of service)
--   p   zset  sessions: session id -> lease end. A session is one process's presence
--             (the registry's random token); its heartbeat moves the end on.
--   qi  hash  waiters: ticket -> "cost enqueue-time"
--   g   zset  grants handed to a waiter and not released yet: ticket -> grant id
--   o   hash  holders' sessions: grant id -> session id. A ticket names its session
--             itself: it is "SESSION.N".
-- ARGV: op, the limiter's notification channel, the caller's session id, the session
-- lease (us), then the op's arguments.
--
-- Liveness is per process, not per permit: whatever a session holds or waits for is
-- reclaimed together once its lease has ended (reap below), so one heartbeat per process
-- and limiter keeps any number of permits and tickets alive.
--
-- Time is the server's (TIME), in microseconds, never a client's; it is kept from
-- running backwards per limiter, so the window log stays ordered. Numbers inside strings
-- are formatted with %d (fmt): Lua's own tostring prints large ones in exponent form.
--
-- Cost. On Redis 7.0 here each redis.call costs 0.3-0.8 us, a number argument another
-- 0.2-0.3 us (the server prints it with "%.17g"), every key or argument of the call about
-- 0.07 us, struct.pack or unpack of b 0.3-0.6 us, a closure or table 0.1-0.2 us; EVALSHA
-- of this code instantiates its ~30 closures on every call, FCALL never. So: s is read
-- with one HGET and written with one HSET of b; b keeps the size of q but not of h (a
-- release would have to write it), so a release reads neither s nor the clock when
-- nobody waits (EXISTS q); ids and scores go to redis.call as %d strings; the window log
-- is trimmed at most every EVICT_EVERY us, and exactly whenever it could refuse a grant.
-- An uncontended acquire is 7 server calls (8 with a window), a release 3.
--
-- Library form: the top level runs once, when the library loads, where no global is
-- readable yet (not even redis.call or struct). So the locals below are per-call state
-- that outlives the call: run() (main.lua) rebinds the keys and arguments, and every op
-- reads the fields of b only after load() (or after setting them all, in reg).
--
-- Invariants every op keeps, all in one atomic script run:
--   * wn = ZCARD(w), qn = ZCARD(q) = ZCARD(qe): only grant, evict and cxl change w, only
--     ticket_add and ticket_del change q and qe, and each updates its count (every op
--     that can reach them has loaded b);
--   * entries of w that no longer count are gone by `ev` at the latest, and always
--     before the log decides against a grant or reports its size;
--   * a grant is made only when, at one server time, live holders < mc, the window log
--     and cost sum leave room and no penalty runs;
--   * grants go to the head of q only, and to a new arrival only when q is empty.

local F = '<dddddddddddddddddd'
local BATCH = 512 -- entries per step when walking a long log (Lua's unpack has a limit)
local EVICT_EVERY = 1000 -- us: the longest the window log keeps what no longer counts

local ops = {}
local call -- redis.call, bound by run()
local K_S, K_H, K_W, K_C, K_Q, K_P, K_QI, K_G, K_O
local A, CHANNEL, SID -- the call's ARGV, channel and session; ARGV[4], the lease (us), is
                      -- converted only by the ops that need it (lease())

-- The fields of b: limits, state, statistics (see the header for their meaning).
local mc, mpw, wus, mcpw         -- max_concurrent, per window, window (us), cost per window
local last, seq, tseq, pen       -- last server time used, last grant id, last ticket, penalty end
local wsum, wk, wn, ev, qn       -- window cost, announced wake-up, ZCARD(w), next trim, ZCARD(q)
local acq, rej, tmo, can, waitus -- totals: acquired, rejected, timed out, cancelled, wait us
local dirty                      -- b changed in this call: run() writes it

-- Reads b; false if the limiter does not exist.
local function load()
  local b = call('HGET', K_S, 'b')
  if not b then
    return false
  end
  mc, mpw, wus, mcpw, last, seq, tseq, pen, wsum, wk, wn, ev, qn, acq, rej, tmo, can, waitus =
    struct.unpack(F, b)
  return true
end

local function store()
  call('HSET', K_S, 'b', struct.pack(F, mc, mpw, wus, mcpw, last, seq, tseq, pen, wsum, wk, wn,
                                     ev, qn, acq, rej, tmo, can, waitus))
end

local function fmt(n)
  return string.format('%d', n)
end

local function server_now()
  local t = call('TIME')
  local now = t[1] * 1000000 + t[2]
  if now < last then
    return last
  end
  return now
end

-- ---- sessions, holders and tickets ----

local function lease()
  return tonumber(A[4])
end

local function ticket_add(ticket, cost, now)
  tseq = tseq + 1
  qn = qn + call('ZADD', K_Q, tseq, ticket)
  dirty = true
  call('HSET', K_QI, ticket, fmt(cost) .. ' ' .. fmt(now))
end

local function ticket_del(ticket)
  local n = call('ZREM', K_Q, ticket)
  if n == 1 then
    qn = qn - 1
    dirty = true
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

local function session_of(ticket)
  return string.match(ticket, '^([^.]*)')
end

-- The caller's process is alive: its session's lease starts again.
local function touch(now)
  call('ZADD', K_P, fmt(now + lease()), SID)
end

-- True while the session's process is connected to the server: its subscriber holds the
-- session's channel from before it takes any ticket until its connection ends.
local function present(sid)
  return call('PUBSUB', 'NUMSUB', 'ptl-session:' .. sid)[2] > 0
end

-- True in the first lease (and a second) of the server's life. Its uptime is all a script
-- can learn of its start, in whole seconds: a session late then may have been cut off by
-- the restart rather than by its process's death. An ACL that refuses INFO makes it false.
local function server_is_new()
  local info = redis.pcall('INFO', 'server')
  if type(info) ~= 'string' then
    return false
  end
  local uptime = tonumber(string.match(info, 'uptime_in_seconds:(%d+)') or 0)
  return uptime * 1000000 < lease() + 1000000
end

-- A session whose lease ended is reaped when its process is gone: not connected, and the
-- server old enough that its heartbeats could have reached it. Its permits, its hand-offs
-- and its places in line are then given up together. Returns how many permits that
-- freed. A session late while its process is still connected, or while the server is
-- new (a restart cut it off; its process reconnects within the lease), gets a new lease
-- from now instead: its process may still be using its permits. One look at the oldest
-- lease when none ended.
local function reap(now)
  local first = call('ZRANGE', K_P, 0, 0, 'WITHSCORES')
  if not first[2] or tonumber(first[2]) >= now then
    return 0
  end
  local until_ = fmt(now + lease())
  local young = server_is_new()
  local late = call('ZRANGEBYSCORE', K_P, '-inf', '(' .. fmt(now))
  local dead, any = {}, false
  for _, sid in ipairs(late) do
    if young or present(sid) then
      call('ZADD', K_P, until_, sid)
    else
      call('ZREM', K_P, sid)
      dead[sid] = true
      any = true
    end
  end
  if not any then
    return 0
  end
  local freed = 0
  local owners = call('HGETALL', K_O)
  for i = 1, #owners, 2 do
    if dead[owners[i + 1]] then
      local id = owners[i]
      freed = freed + call('ZREM', K_H, id)
      call('HDEL', K_O, id)
      call('ZREMRANGEBYSCORE', K_G, id, id)
    end
  end
  if qn > 0 then
    for _, ticket in ipairs(call('ZRANGE', K_Q, 0, -1)) do
      if dead[session_of(ticket)] then
        ticket_del(ticket)
      end
    end
  end
  return freed
end

local function has_room(now)
  local n = call('ZCARD', K_H)
  return n < mc or n - reap(now) < mc
end

-- ---- the window ----

-- Drops window entries that no longer count at `now`: an entry at t counts for every
-- grant at T with T - window <= t (boundaries included, as the local limiter).
local function evict(now)
  ev = now + math.min(EVICT_EVERY, math.floor(wus / 8))
  dirty = true
  if wn == 0 then
    return
  end
  local last_out = now - wus - 1 -- scores are whole microseconds
  if mcpw > 0 then
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
      wn = wn - call('ZREM', K_W, unpack(gone))
      wsum = wsum - sum
    end
  else
    wn = wn - call('ZREMRANGEBYSCORE', K_W, '-inf', last_out)
  end
end

-- The earliest server time >= now at which the window, the cost limit and any penalty
-- allow a grant of `cost` (the concurrency limit is checked apart). An entry at t stops
-- counting at t + window + 1 us.
local function time_fit(cost, now)
  local at = now
  if pen > now then
    at = pen
  end
  if mpw == 0 and mcpw == 0 then
    return at
  end
  -- Between trims the log may still hold entries that no longer count: it can only
  -- overstate the use, so a grant it allows is allowed; one it refuses is decided again
  -- on the exact log.
  local trimmed = now >= ev
  if trimmed then
    evict(now)
  end
  if not trimmed and ((mpw > 0 and wn >= mpw) or (mcpw > 0 and wsum + cost > mcpw)) then
    evict(now)
  end
  if mpw > 0 and wn >= mpw then
    local e = call('ZRANGE', K_W, wn - mpw, wn - mpw, 'WITHSCORES')
    at = math.max(at, tonumber(e[2]) + wus + 1)
  end
  if mcpw > 0 then
    local excess = wsum + cost - mcpw
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
          at = math.max(at, tonumber(e[2 * i]) + wus + 1)
          break
        end
      end
      from = from + BATCH
    end
  end
  return at
end

-- ---- grants and the line ----

-- Records a grant to session `sid` and returns its id. Ids start at the limiter's
-- creation time in us and grow by one per grant, so they never repeat, not even when a
-- limiter is removed and created again under the same name.
local function grant(cost, now, sid)
  seq = seq + 1
  local id = fmt(seq)
  call('ZADD', K_H, fmt(now), id)
  call('HSET', K_O, id, sid)
  if mpw > 0 or mcpw > 0 then
    wn = wn + call('ZADD', K_W, fmt(now), id)
    if mcpw > 0 then
      if cost ~= 1 then
        call('HSET', K_C, id, cost)
      end
      wsum = wsum + cost
    end
  end
  last = now
  acq = acq + 1
  dirty = true
  return seq
end

-- Undoes the grant handed to `ticket` whose waiter never took it (it timed out, was
-- cancelled or is gone), window entry included: nobody used it, so it leaves no trace.
-- True if there was one.
local function undo_handoff(ticket)
  local id = call('ZSCORE', K_G, ticket)
  if not id then
    return false
  end
  id = fmt(tonumber(id))
  call('ZREM', K_G, ticket)
  call('HDEL', K_O, id)
  if call('ZREM', K_H, id) == 0 then
    return false
  end
  if call('ZREM', K_W, id) == 1 then
    wn = wn - 1
    if mcpw > 0 then
      wsum = wsum - tonumber(call('HGET', K_C, id) or 1)
    end
  end
  call('HDEL', K_C, id)
  acq = acq - 1
  dirty = true
  return true
end

-- Hands capacity to the waiters at the head of the line, in ticket order, as long as
-- the head fits. Each grant is published to the waiter's process (no round trip back).
-- Returns nil when nobody waits, else the server time at which the head could fit (a
-- number > now) or 'full' when only a release or a session's end can make room. Waiters
-- of sessions that ended have left the line (reap), and a waiter whose process is no
-- longer connected leaves it when it reaches the head, so a hand-off never goes to a
-- process known to be gone.
local function dispatch(now)
  if qn == 0 then
    return nil
  end
  reap(now)
  while qn > 0 do
    local head = call('ZRANGE', K_Q, 0, 0)[1]
    if not head then
      return redis.error_reply('ptl: queue size out of step') -- an invariant broke
    end
    local cost, enq = ticket_info(head)
    if not present(session_of(head)) then
      -- Its process died (or lost its notification connection, which fails its waiters):
      -- a grant would go unused until the session's lease ends. The next one is served.
      ticket_del(head)
    elseif mcpw > 0 and cost > mcpw then
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
      -- The grant belongs to the waiter's session: if that process dies before it hears
      -- of it, the grant is reaped with the rest of the session.
      local id = grant(cost, now, session_of(head))
      ticket_del(head)
      call('ZADD', K_G, fmt(id), head)
      if enq then
        waitus = waitus + now - enq
      end
      call('PUBLISH', CHANNEL, 'g ' .. head .. ' ' .. fmt(id))
    end
  end
  return nil
end

-- Turns dispatch's answer into the caller's wake-up delay (us; -1 when nobody waits).
-- A head blocked by time is announced on the channel, once per moment, so that every
-- process with waiters sets a timer for it; a head blocked by the concurrency limit
-- waits for a release, or at the latest for the first session's lease to end (a dead
-- holder is reaped then; a live one has moved it on by then, and the timer looks again).
local function wake_after(now, blocked)
  if blocked == nil then
    return -1
  end
  if blocked == 'full' then
    local first = call('ZRANGE', K_P, 0, 0, 'WITHSCORES')
    if not first[2] then
      return lease()
    end
    return math.max(tonumber(first[2]) - now, 0) + 1
  end
  if wk <= now or wk > blocked then
    wk = blocked
    dirty = true
    call('PUBLISH', CHANNEL, 'w ' .. fmt(blocked - now))
  end
  return blocked - now
end
