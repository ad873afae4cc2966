-- SPDX-License-Identifier: MIT
-- The limiter code of the redis:// backend. The build joins common.lua, the op files and
-- main.lua into one body and wraps it twice (embed_lua.cmake): as a library of Redis
-- functions (FUNCTION LOAD once, then FCALL), used where the server has them (7.0 and
-- later), and as one script (SCRIPT LOAD, EVALSHA) for older servers and for users the
-- server lets run scripts only. Both run the same code with the same keys and arguments.
--
-- A limiter holds a policy (ADR 15): 1..16 limits {unit, max, window}, a window of 0
-- being a held limit. Every call names the ten keys of one limiter; they share the hash
-- tag {PREFIX:NAME}, so a Redis Cluster keeps them in one slot (layout 2, ADR 9):
--   s    hash  v: "2", the layout (a 0.1 limiter has mc instead, and is refused);
--              p: the policy as text, "PV SH CW N" then "UNIT MAX WNS WUS" per limit
--              (PV its version: the creation time in us, plus one per change; SH/CW
--              are PolicySpec::config_shorthand and
--              config_window_seconds (%.17g), WNS the window as given in ns, WUS it in us rounded
--              up, 0 = held); b: the state packed as doubles (struct, below); c: the
--              provider's observations, "UNIT LEFT UNTIL OBSERVED" per cap (only while any).
--   2h   zset  holders: grant id -> grant time
--   2o   hash  holders' sessions: grant id -> session id
--   2q   zset  waiters: ticket -> ticket number (the order of service)
--   2qi  hash  waiters: ticket -> "ENQUEUE-TIME C1 .. CN", the charge per limit
--   2p   zset  sessions: session id -> lease end
--   2g   zset  grants handed to a waiter and not released yet: ticket -> grant id
--   2r   hash  grant records: grant id -> "TIME C1 E1 S1 .. CN EN SN" (charge, window
--              entry, settled), for held grants and released ones a window still counts
--   2rt  zset  released records: grant id -> grant time (bounded: see grants.lua)
--   2w   string the window logs: one ring of CAP entries of 16 bytes (time, amount) per
--              windowed limit, in policy order (window.lua)
-- ARGV: op, the limiter's notification channel, the caller's session id, the session
-- lease (us), then the op's arguments.
--
-- Liveness is per process, not per permit: whatever a session holds or waits for is
-- reclaimed together once its lease has ended (reap), so one heartbeat per process and
-- limiter keeps any number of permits and tickets alive.
--
-- Time is the server's (TIME), in microseconds, never a client's; it is kept from
-- running backwards per limiter, so the window logs stay ordered. Numbers inside strings
-- are formatted with %d (fmt): Lua's own tostring prints large ones in exponent form.
-- Amounts and maxima are at most 2^53 (the clients refuse more): a double holds them,
-- and their sums while they can decide a grant, exactly.
--
-- Library form: the top level runs once, when the library loads, where no global is
-- readable yet (not even redis.call or struct). So the locals below are per-call state
-- that outlives the call: run() (main.lua) rebinds the keys and arguments, and every op
-- reads the state only after load() (or after setting it all, in reg).
--
-- Invariants every op keeps, all in one atomic script run:
--   * qn = ZCARD(q): only ticket_add and ticket_del change q, and each updates it;
--   * U[i].used is the sum of the window log i (windowed) or of the charges of limit i
--     of the grants in h (held, except what a policy change did not charge: ADR 15);
--   * a grant is made only when, at one server time, every limit and observation has
--     room for its charge and no penalty runs;
--   * grants go to the head of q only, and to a new arrival only when q is empty.

local EXACT = 9007199254740991 -- 2^53 - 1: the largest integer a double holds exactly
local INF = 1 / 0 -- not math.huge: no global is readable when the library loads

local ops = {}
local call -- redis.call, bound by run()
local K_S, K_H, K_O, K_Q, K_QI, K_P, K_G, K_R, K_RT, K_W
local A, CHANNEL, SID -- the call's ARGV, channel and session

-- The policy (parsed from s.p): P.pv, P.sh, P.n, P.limits[i] = {unit, max, wns, wus,
-- held, region}, P.units[unit] = {indexes of its limits}, P.longest (us), P.fmt (of b).
local P
-- The state (b): scalars, then per limit U[i] = {used, cnt, eseq, ft, nt, na, no}.
local last, seq, tseq, pen, wk, qn -- last time used, grant id, ticket, penalty end,
                                   -- announced wake-up, ZCARD(q)
local acq, rej, tmo, can, waitus   -- totals: acquired, rejected, timed out, cancelled, wait
local U
local CAPS       -- observations: unit -> {{left, until}, ...}
local dirty      -- b changed in this call: run() writes it
local caps_dirty -- c changed
-- The state as the last call wrote it to b (the packed string) and the policy text then.
-- The locals above outlive a call (library form), so while no call has run since, they
-- hold exactly what that b decodes to, and load() skips decoding a b equal to it, byte
-- for byte: most calls follow one on the same limiter, and decoding is a tenth of a
-- call's server time (ADR 21). A b anyone else wrote (code of another version, a restore)
-- is decoded, unless equal byte for byte: then it decodes to these very values. run()
-- hands kept_* to reuse_* and clears them (a call that fails halfway has changed the
-- locals, not b); load() clears reuse_* (its op changes the locals before any second
-- load); store() sets kept_* when it has written b.
-- The script form (EVALSHA) runs the body afresh per call: nothing kept, nothing reused.
local kept_b, kept_p
local reuse_b, reuse_p
local NSCALAR = 11
local NLIMIT = 7 -- doubles per limit

local OLD_LAYOUT = 'ptl: this limiter was created by a pocketflow-throttled 0.1 client (the ' ..
  'old redis:// key layout, which this version does not read): remove it (ptl_registry_remove ' ..
  'or ptl_registry_reset) once no 0.1 client uses it, or use another prefix'

local function fmt(n)
  return string.format('%d', n)
end

-- Parsed policies by text; a few kept, since one server holds many limiters.
local parsed, nparsed = {}, 0

local function policy_of(text)
  local p = parsed[text]
  if p then
    return p
  end
  local w = {}
  for x in string.gmatch(text, '%S+') do
    w[#w + 1] = x
  end
  p = {text = text, pv = tonumber(w[1]), sh = w[2] == '1', n = tonumber(w[4]), limits = {},
       units = {}, longest = 0}
  local region = 0
  for i = 1, p.n do
    local b = 4 + (i - 1) * 4
    local l = {unit = w[b + 1], max = tonumber(w[b + 2]), wns = w[b + 3], wus = tonumber(w[b + 4])}
    l.held = l.wus == 0
    if not l.held then
      l.region = region
      region = region + 1
      p.longest = math.max(p.longest, l.wus)
    end
    p.limits[i] = l
    p.units[l.unit] = p.units[l.unit] or {}
    table.insert(p.units[l.unit], i)
  end
  p.fmt = '<' .. string.rep('d', NSCALAR + NLIMIT * p.n)
  if nparsed >= 64 then
    parsed, nparsed = {}, 0
  end
  parsed[text] = p
  nparsed = nparsed + 1
  return p
end

local function fresh_limit()
  return {used = 0, cnt = 0, eseq = 0, ft = 0, nt = 0, na = 0, no = 0}
end

local function parse_caps(text)
  local caps = {}
  if text then
    for unit, left, until_, at in string.gmatch(text, '(%S+) (%S+) (%S+) (%S+)') do
      caps[unit] = caps[unit] or {}
      table.insert(caps[unit], {tonumber(left), tonumber(until_), tonumber(at)})
    end
  end
  return caps
end

-- Reads the policy and the state; false if the limiter does not exist. A limiter of
-- the 0.1 layout (or one a 0.1 client wrote into) fails the call with a clear error
-- instead of being misread.
local function load()
  local f = call('HMGET', K_S, 'v', 'p', 'b', 'c', 'mc')
  local same = reuse_b ~= nil and f[3] == reuse_b and f[2] == reuse_p
  reuse_b, reuse_p = nil, nil
  if f[5] or (f[1] and f[1] ~= '2') then
    error({err = OLD_LAYOUT})
  end
  if not f[1] then
    return false
  end
  CAPS = parse_caps(f[4])
  caps_dirty = false
  if same then
    return true -- the locals hold this b and P this policy (the strings are equal)
  end
  P = policy_of(f[2])
  local v = {struct.unpack(P.fmt, f[3])}
  last, seq, tseq, pen, wk, qn, acq, rej, tmo, can, waitus =
    v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]
  U = {}
  for i = 1, P.n do
    local o = NSCALAR + (i - 1) * NLIMIT
    U[i] = {used = v[o + 1], cnt = v[o + 2], eseq = v[o + 3], ft = v[o + 4], nt = v[o + 5],
            na = v[o + 6], no = v[o + 7]}
  end
  return true
end

local function store()
  local v = {last, seq, tseq, pen, wk, qn, acq, rej, tmo, can, waitus}
  for i = 1, P.n do
    local u = U[i]
    local o = NSCALAR + (i - 1) * NLIMIT
    v[o + 1], v[o + 2], v[o + 3], v[o + 4], v[o + 5], v[o + 6], v[o + 7] =
      u.used, u.cnt, u.eseq, u.ft, u.nt, u.na, u.no
  end
  local b = struct.pack(P.fmt, unpack(v))
  call('HSET', K_S, 'b', b)
  kept_b, kept_p = b, P.text
  if caps_dirty then
    local words = {}
    for unit, list in pairs(CAPS) do
      for _, c in ipairs(list) do
        words[#words + 1] = unit .. ' ' .. fmt(c[1]) .. ' ' .. fmt(c[2]) .. ' ' .. fmt(c[3])
      end
    end
    if #words == 0 then
      call('HDEL', K_S, 'c')
    else
      call('HSET', K_S, 'c', table.concat(words, ' '))
    end
  end
end

local function server_now()
  local t = call('TIME')
  local now = t[1] * 1000000 + t[2]
  if now < last then
    return last
  end
  return now
end

-- ---- sessions ----

local function lease()
  return tonumber(A[4])
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

-- ---- the line ----

local function ticket_add(ticket, ch, now)
  tseq = tseq + 1
  qn = qn + call('ZADD', K_Q, tseq, ticket)
  dirty = true
  local words = {fmt(now)}
  for i = 1, P.n do
    words[i + 1] = fmt(ch[i])
  end
  call('HSET', K_QI, ticket, table.concat(words, ' '))
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

-- A waiter's charges (one per limit of the policy) and enqueue time; nil if unknown.
local function ticket_info(ticket)
  local info = call('HGET', K_QI, ticket)
  if not info then
    return nil, nil
  end
  local ch, enq = {}, nil
  for x in string.gmatch(info, '%d+') do
    if enq == nil then
      enq = tonumber(x)
    else
      ch[#ch + 1] = tonumber(x)
    end
  end
  return ch, enq
end
