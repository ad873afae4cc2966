-- SPDX-License-Identifier: MIT
-- A live policy change (ADR 15, core::match_limits): every limit that continues keeps
-- its state (its held amount, or its window log and sum); a new limit starts empty.
-- Grant records, waiters and observations follow their limits to the new indexes.

-- Which old limit each new limit continues (an index, or false): the same (unit, window);
-- else, in order, a windowed limit of the same unit that nothing else continues.
local function match_limits(from, to)
  local match, taken = {}, {}
  for j = 1, to.n do
    match[j] = false
    for i = 1, from.n do
      if from.limits[i].unit == to.limits[j].unit and from.limits[i].wns == to.limits[j].wns then
        match[j] = i
        taken[i] = true
      end
    end
  end
  for j = 1, to.n do
    local l = to.limits[j]
    if not match[j] and not l.held then
      for i = 1, from.n do
        if not taken[i] and not from.limits[i].held and from.limits[i].unit == l.unit then
          match[j] = i
          taken[i] = true
          break
        end
      end
    end
  end
  return match
end

-- The defaults of a unit left out of a demand (core::resolve_charges).
local function default_charge(p, unit)
  if unit == 'requests' or (p.sh and unit == 'tokens') then
    return 1
  end
  return 0
end

-- A waiter's charges carried to `to` by unit (core::remap_charges); true if one of them
-- exceeds its new limit's max (the waiter can never be granted).
local function remap_charges(from, ch, to)
  local out, too_big = {}, false
  for j = 1, to.n do
    local l = to.limits[j]
    out[j] = default_charge(to, l.unit)
    local same = from.units[l.unit]
    if same then
      out[j] = ch[same[1]]
    end
    if out[j] > l.max then
      too_big = true
    end
  end
  return out, too_big
end

-- Installs policy `np` in place of P, carrying the state of the limits that continue.
local function change_policy(np)
  local op = P
  local from = match_limits(op, np)
  local nu = {}
  for j = 1, np.n do
    nu[j] = from[j] and U[from[j]] or fresh_limit()
  end
  -- The window logs move with their limits: the ring string is built again in the new
  -- order of windowed limits.
  local old_w = call('GET', K_W) or ''
  local parts, last_part = {}, 0
  for j = 1, np.n do
    if not np.limits[j].held then
      local data = ''
      if from[j] then
        local r = op.limits[from[j]].region
        data = string.sub(old_w, r * REGION + 1, (r + 1) * REGION)
      end
      parts[#parts + 1] = data
      if #data > 0 then
        last_part = #parts
      end
    end
  end
  for k = 1, last_part - 1 do
    parts[k] = parts[k] .. string.rep('\0', REGION - #parts[k])
  end
  if last_part == 0 then
    call('DEL', K_W)
  else
    call('SET', K_W, table.concat(parts, '', 1, last_part))
  end
  -- Records: a limit new to a grant was not charged, so its release gives nothing back;
  -- the requests-held limit counts every held permit as one request.
  local holders = {}
  local h = call('ZRANGE', K_H, 0, -1)
  for _, id in ipairs(h) do
    holders[id] = true
  end
  local records = call('HGETALL', K_R)
  for k = 1, #records, 2 do
    local id = records[k]
    local r = rec_get(id)
    local moved = {t = r.t, c = {}, e = {}, s = {}}
    for j = 1, np.n do
      local i = from[j]
      moved.c[j] = i and r.c[i] or 0
      moved.e[j] = i and r.e[i] or -1
      moved.s[j] = i and r.s[i] or 0
      local l = np.limits[j]
      if not i and l.held and l.unit == 'requests' and holders[id] then
        moved.c[j] = 1
      end
    end
    rec_put(id, moved)
  end
  for j = 1, np.n do
    local l = np.limits[j]
    if not from[j] and l.held and l.unit == 'requests' then
      nu[j].used = #h
    end
  end
  -- Waiters keep their amounts by unit; one that no longer fits a max leaves the line
  -- and its process fails it with PTL_EINVAL ('x').
  if qn > 0 then
    for _, ticket in ipairs(call('ZRANGE', K_Q, 0, -1)) do
      local ch, enq = ticket_info(ticket)
      local out, too_big = {}, true
      if ch and #ch == op.n then
        out, too_big = remap_charges(op, ch, np)
      end
      if too_big then
        ticket_del(ticket)
        call('PUBLISH', CHANNEL, 'x ' .. ticket)
      else
        local words = {fmt(enq)}
        for j = 1, np.n do
          words[j + 1] = fmt(out[j])
        end
        call('HSET', K_QI, ticket, table.concat(words, ' '))
      end
    end
  end
  for unit in pairs(CAPS) do
    if not np.units[unit] then
      CAPS[unit] = nil
      caps_dirty = true
    end
  end
  P, U = np, nu
  dirty = true
end
