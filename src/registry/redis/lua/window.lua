-- SPDX-License-Identifier: MIT
-- The window logs and the provider's observations (ADR 15).
--
-- A windowed limit's log is a ring of CAP entries (time, amount) in the string key w,
-- 16 bytes each, at offset region * CAP * 16 (its rank among the policy's windowed
-- limits). Entry number k (counting every entry the limit ever made, eseq) lives at
-- slot k % CAP; the log holds entries eseq - cnt .. eseq - 1, ft and nt/na are the
-- oldest's time and the newest's time and amount, no when the newest was opened (its
-- first grant's time). Strict: an entry at t counts for a grant at T when
-- T - window <= t. A grant less than window/1024 after the newest entry was opened is
-- added into it (the entry takes the grant's time, so it never leaves early; it spans
-- less than window/1024, so none of its grants leaves that late or later). So entries
-- are opened at least window/1024 apart, each after the one before took its last grant,
-- and at most CAP = 1025 stay, whatever the rate. A window made longer by a policy
-- change can meet more: then a grant goes into the newest entry too (later, never
-- early). So each log costs 16 KB at most, admission reads the sum (used) only, and
-- only a blocked check walks the log.

local CAP = 1025
local ESZ = 16
local REGION = CAP * ESZ
local WALK = 256 -- entries read per GETRANGE when walking a log

local function slot_offset(l, k)
  return l.region * REGION + (k % CAP) * ESZ
end

local function ring_read(l, k)
  local at = slot_offset(l, k)
  return struct.unpack('<dd', call('GETRANGE', K_W, at, at + ESZ - 1))
end

local function ring_write(l, k, t, a)
  call('SETRANGE', K_W, slot_offset(l, k), struct.pack('<dd', t, a))
end

-- Reads entries lo..hi (contiguous in the ring) and calls fn(k, t, a) from hi down to lo
-- (down) or lo up to hi; stops when fn returns true.
local function ring_each(l, lo, hi, down, fn)
  local at = slot_offset(l, lo)
  local s = call('GETRANGE', K_W, at, at + (hi - lo + 1) * ESZ - 1)
  local first, stop, step = lo, hi, 1
  if down then
    first, stop, step = hi, lo, -1
  end
  for k = first, stop, step do
    local t, a = struct.unpack('<dd', s, (k - lo) * ESZ + 1)
    if fn(k, t, a) then
      return true
    end
  end
  return false
end

-- The sum again from the entries, for a log settled beyond 2^53 in total, where
-- subtracting the entries that leave would no longer be exact.
local function recount(i)
  local l, u = P.limits[i], U[i]
  local sum = 0
  local k = u.eseq - u.cnt
  while k < u.eseq do
    local hi = math.min(u.eseq - 1, k - (k % CAP) + CAP - 1, k + WALK - 1)
    ring_each(l, k, hi, false, function(_, _, a)
      sum = sum + a
    end)
    k = hi + 1
  end
  u.used = sum
end

-- Drops the entries of log i that no longer count at `now`.
local function evict(i, now)
  local l, u = P.limits[i], U[i]
  local cutoff = now - l.wus
  if u.cnt == 0 or u.ft >= cutoff then
    return
  end
  dirty = true
  if u.nt < cutoff then
    u.cnt, u.used = 0, 0
    return
  end
  local saturated = u.used > EXACT
  -- The newest entry stays, so the walk ends inside the log.
  while true do
    local lo = u.eseq - u.cnt
    local hi = math.min(u.eseq - 1, lo - (lo % CAP) + CAP - 1, lo + WALK - 1)
    local done = ring_each(l, lo, hi, false, function(_, t, a)
      if t >= cutoff then
        u.ft = t
        return true
      end
      u.cnt = u.cnt - 1
      u.used = u.used - a
      return false
    end)
    if done then
      break
    end
  end
  if saturated then
    recount(i)
  end
end

-- The earliest server time >= now at which `amount` more fits in log i (after
-- evict(i, now)): walking from the newest entry back, the first entry that does not fit
-- beside `amount` must leave, and every older one with it. INF if it never can.
local function window_fit(i, now, amount)
  local l, u = P.limits[i], U[i]
  if amount > l.max then
    return INF
  end
  if u.used + amount <= l.max then
    return now
  end
  local room = l.max - amount
  local kept = 0
  local at = now
  local hi = u.eseq - 1
  local first = u.eseq - u.cnt
  while hi >= first do
    local lo = math.max(first, hi - (hi % CAP), hi - WALK + 1)
    local done = ring_each(l, lo, hi, true, function(_, t, a)
      if a > room - kept then
        at = t + l.wus + 1
        return true
      end
      kept = kept + a
      return false
    end)
    if done then
      break
    end
    hi = lo - 1
  end
  return at
end

-- Records `amount` granted at `now` in log i; returns the number of the entry that
-- holds it.
local function record(i, now, amount)
  local l, u = P.limits[i], U[i]
  dirty = true
  u.used = u.used + amount
  if u.cnt > 0 and (1024 * (now - u.no) < l.wus or u.cnt == CAP) then
    u.nt, u.na = now, u.na + amount
    if u.cnt == 1 then
      u.ft = now
    end
    ring_write(l, u.eseq - 1, now, u.na)
    return u.eseq - 1
  end
  local k = u.eseq
  ring_write(l, k, now, amount)
  u.eseq, u.cnt, u.nt, u.na, u.no = k + 1, u.cnt + 1, now, amount, now
  if u.cnt == 1 then
    u.ft = now
  end
  return k
end

-- Changes a grant recorded as `was` in entry k of log i to `now_amount`, if the entry
-- still counts; one that left no longer limits anyone.
local function correct(i, k, was, now_amount)
  local l, u = P.limits[i], U[i]
  if k < 0 or k < u.eseq - u.cnt or k >= u.eseq then
    return
  end
  local t, a = ring_read(l, k)
  -- The entry holds this grant's `was`, and maybe merged grants' amounts besides.
  local na = a - math.min(a, was) + now_amount
  ring_write(l, k, t, na)
  u.used = u.used - a + na
  if k == u.eseq - 1 then
    u.na = na
  end
  dirty = true
end

-- ---- observations (core::ObservedCaps, shared by every process) ----

local MAX_CAPS = 4

local function caps_evict(now)
  for unit, list in pairs(CAPS) do
    for k = #list, 1, -1 do
      if list[k][2] <= now then
        table.remove(list, k)
        caps_dirty = true
      end
    end
    if #list == 0 then
      CAPS[unit] = nil
    end
  end
end

-- The earliest time >= now at which charges `ch` fit under every cap in force.
local function caps_fit(ch, now)
  local at = now
  for unit, list in pairs(CAPS) do
    local amount = ch[P.units[unit][1]]
    for _, c in ipairs(list) do
      if c[1] < amount then
        at = math.max(at, c[2])
      end
    end
  end
  return at
end

-- Counts a grant (or a settled excess) of `unit` against its caps in force.
local function caps_charge(unit, amount)
  local list = CAPS[unit]
  if not list or amount == 0 then
    return
  end
  for _, c in ipairs(list) do
    c[1] = c[1] - math.min(c[1], amount)
  end
  caps_dirty = true
end

-- A grant made at `granted` used `amount` less than it was charged: gives it back to the
-- caps observed before it (they charged its estimate; the provider counts what was used).
local function caps_refund(unit, amount, granted)
  local list = CAPS[unit]
  if not list or amount == 0 then
    return
  end
  for _, c in ipairs(list) do
    if c[3] < granted then
      c[1] = math.min(c[1] + amount, EXACT)
    end
  end
  caps_dirty = true
end

-- At most `remaining` more of `unit` until `until_`: caps only tighten; one as tight and
-- as long as another makes it redundant; past MAX_CAPS the two nearest resets merge into
-- one tighter than both.
local function caps_observe(unit, remaining, until_, now)
  caps_evict(now)
  if until_ <= now then
    return
  end
  local list = CAPS[unit] or {}
  for _, c in ipairs(list) do
    if c[1] <= remaining and c[2] >= until_ then
      return
    end
  end
  for k = #list, 1, -1 do
    if remaining <= list[k][1] and until_ >= list[k][2] then
      table.remove(list, k)
    end
  end
  if #list == MAX_CAPS then
    table.sort(list, function(a, b)
      return a[2] < b[2]
    end)
    local best = 1
    for k = 2, #list - 1 do
      if list[k + 1][2] - list[k][2] < list[best + 1][2] - list[best][2] then
        best = k
      end
    end
    -- The later observation: only grants after both were charged to both.
    list[best] = {math.min(list[best][1], list[best + 1][1]), list[best + 1][2],
                  math.max(list[best][3], list[best + 1][3])}
    table.remove(list, best + 1)
  end
  list[#list + 1] = {remaining, until_, now}
  CAPS[unit] = list
  caps_dirty = true
end
