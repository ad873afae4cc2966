-- SPDX-License-Identifier: MIT
-- Grants: their records, admission in every limit at once, the hand-offs to the line,
-- and what gives grants back (release, reap, undo).
--
-- A grant's record (r) keeps its charge per limit, the window entry that holds it and
-- whether that limit's unit was settled, so that a release gives back exactly what it
-- held and a settle corrects the right entries. A released grant's record is kept while
-- one of its windows is unsettled and can still count it (granted within the longest
-- window), and at most MAX_RELEASED of them per limiter, the oldest going first.

local MAX_RELEASED = 1024

local function rec_get(id)
  local text = call('HGET', K_R, id)
  if not text then
    return nil
  end
  local w = {}
  for x in string.gmatch(text, '%S+') do
    w[#w + 1] = tonumber(x)
  end
  local r = {t = w[1], c = {}, e = {}, s = {}}
  for i = 1, (#w - 1) / 3 do
    r.c[i], r.e[i], r.s[i] = w[3 * i - 1], w[3 * i], w[3 * i + 1]
  end
  return r
end

local function rec_put(id, r)
  local words = {fmt(r.t)}
  for i = 1, #r.c do
    words[#words + 1] = fmt(r.c[i]) .. ' ' .. fmt(r.e[i]) .. ' ' .. fmt(r.s[i])
  end
  call('HSET', K_R, id, table.concat(words, ' '))
end

-- Drops released records no window can count any more, and the oldest beyond the bound.
-- Counted first: a limiter without windows keeps none, and then one call is all it costs.
local function trim_released(now)
  local n = call('ZCARD', K_RT)
  if n == 0 then
    return
  end
  local gone = call('ZRANGEBYSCORE', K_RT, '-inf', '(' .. fmt(now - P.longest - 1), 'LIMIT', 0,
                    512)
  if #gone > 0 then
    call('HDEL', K_R, unpack(gone))
    n = n - call('ZREM', K_RT, unpack(gone))
  end
  if n > MAX_RELEASED then
    gone = call('ZRANGE', K_RT, 0, n - MAX_RELEASED - 1)
    call('HDEL', K_R, unpack(gone))
    call('ZREM', K_RT, unpack(gone))
  end
end

-- A grant no longer held: its record stays while a window may want its settle.
local function keep_or_drop(id, r)
  for i = 1, P.n do
    if not P.limits[i].held and r.s[i] == 0 then
      rec_put(id, r)
      call('ZADD', K_RT, fmt(r.t), id)
      return
    end
  end
  call('HDEL', K_R, id)
  call('ZREM', K_RT, id)
end

-- Gives back what a held grant holds in the held limits.
local function free_held(r)
  for i = 1, P.n do
    if P.limits[i].held then
      U[i].used = U[i].used - math.min(U[i].used, r.c[i])
    end
  end
  dirty = true
end

-- Replaces the estimate of `unit` in a grant's record and in every limit of that unit:
-- the window entry that holds it and, while `held`, the held limit. The excess is
-- charged to the unit's observations too, a shortfall given back to those observed
-- before the grant (the provider counts what was used).
local function settle_unit(r, unit, actual, held)
  local was = 0
  for _, i in ipairs(P.units[unit]) do
    was = r.c[i]
    if not P.limits[i].held then
      correct(i, r.e[i], was, actual)
    elseif held then
      U[i].used = U[i].used - math.min(U[i].used, was) + actual
    end
    r.c[i], r.s[i] = actual, 1
  end
  if actual > was then
    caps_charge(unit, actual - was)
  elseif actual < was then
    caps_refund(unit, was - actual, r.t)
  end
  dirty = true
end

local function settled(r, unit)
  for _, i in ipairs(P.units[unit]) do
    if r.s[i] == 1 then
      return true
    end
  end
  return false
end

-- Ends a held grant (a release, a reaped or unlisted session's permit). Returns 1 if
-- it was held. `tokens` is 0.1's release_cost: a settle of tokens unless done already.
local function end_grant(id, tokens)
  local held = call('ZREM', K_H, id)
  call('HDEL', K_O, id)
  if held == 0 then
    return 0
  end
  local r = rec_get(id)
  if r then
    if tokens and P.units.tokens and not settled(r, 'tokens') then
      settle_unit(r, 'tokens', tokens, true)
    end
    free_held(r)
    keep_or_drop(id, r)
  end
  return 1
end

-- ---- admission ----

-- The earliest server time >= now at which the windows, the observations and any
-- penalty allow charges `ch` (held limits are checked apart: only a release frees them).
local function time_fit(ch, now)
  local at = math.max(now, pen)
  for i = 1, P.n do
    if not P.limits[i].held then
      evict(i, now)
      at = math.max(at, window_fit(i, now, ch[i]))
    end
  end
  if next(CAPS) then
    caps_evict(now)
    at = math.max(at, caps_fit(ch, now))
  end
  return at
end

local function held_fits(ch)
  for i = 1, P.n do
    local l = P.limits[i]
    if l.held and U[i].used + ch[i] > l.max then
      return false
    end
  end
  return true
end

-- A session whose lease ended is reaped when its process is gone: not connected, and the
-- server old enough that its heartbeats could have reached it. Its permits (with what
-- they hold in every held limit), its hand-offs and its places in line are then given up
-- together. Returns how many permits that freed. A session late while its process is
-- still connected, or while the server is new (a restart cut it off; its process
-- reconnects within the lease), gets a new lease from now instead. One look at the
-- oldest lease when none ended.
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
      freed = freed + end_grant(id, nil)
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

local function has_room(ch, now)
  return held_fits(ch) or (reap(now) > 0 and held_fits(ch))
end

-- Records a grant of `ch` to session `sid` and returns its id. Ids start at the
-- limiter's creation time in us and grow by one per grant, so they never repeat, not even
-- when a limiter is removed and created again under the same name.
local function grant(ch, now, sid)
  seq = seq + 1
  local id = fmt(seq)
  call('ZADD', K_H, fmt(now), id)
  call('HSET', K_O, id, sid)
  local r = {t = now, c = {}, e = {}, s = {}}
  for i = 1, P.n do
    r.c[i], r.s[i] = ch[i], 0
    if P.limits[i].held then
      U[i].used = U[i].used + ch[i]
      r.e[i] = -1
    else
      r.e[i] = record(i, now, ch[i])
    end
  end
  for unit in pairs(CAPS) do
    caps_charge(unit, ch[P.units[unit][1]])
  end
  rec_put(id, r)
  last = now
  acq = acq + 1
  dirty = true
  return seq
end

-- Undoes the grant handed to `ticket` whose waiter never took it (it timed out, was
-- cancelled or is gone), window entries included: nobody used it, so it leaves no trace.
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
  local r = rec_get(id)
  if r then
    free_held(r)
    for i = 1, P.n do
      if not P.limits[i].held then
        correct(i, r.e[i], r.c[i], 0)
      end
    end
  end
  call('HDEL', K_R, id)
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
    local ch, enq = ticket_info(head)
    if not present(session_of(head)) or not ch or #ch ~= P.n then
      -- Its process died (or lost its notification connection, which fails its waiters):
      -- a grant would go unused until the session's lease ends. The next one is served.
      ticket_del(head)
    else
      local at = time_fit(ch, now)
      if at > now then
        return at
      end
      if not has_room(ch, now) then
        return 'full'
      end
      -- The grant belongs to the waiter's session: if that process dies before it hears
      -- of it, the grant is reaped with the rest of the session.
      local id = grant(ch, now, session_of(head))
      ticket_del(head)
      call('ZADD', K_G, fmt(id), head)
      waitus = waitus + now - enq
      call('PUBLISH', CHANNEL, 'g ' .. head .. ' ' .. fmt(id))
    end
  end
  return nil
end

-- Turns dispatch's answer into the caller's wake-up delay (us; -1 when nobody waits).
-- A head blocked by time is announced on the channel, once per moment, so that every
-- process with waiters sets a timer for it; a head blocked by a held limit waits for a
-- release, or at the latest for the first session's lease to end (a dead holder is
-- reaped then; a live one has moved it on by then, and the timer looks again).
local function wake_after(now, blocked)
  if blocked == nil then
    return -1
  end
  if blocked == 'full' or blocked == INF then
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
