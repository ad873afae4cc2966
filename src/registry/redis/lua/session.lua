-- SPDX-License-Identifier: MIT
-- hb: the caller's process is alive (its heartbeat, every third of a lease while it holds
-- or waits for anything here); it also reaps the sessions of processes that died.
-- Returns {1 if the limiter exists, 1 if the caller's session was still known, wake us}.
-- 0 for the second: the session had been reaped (the process stalled, or could not reach
-- the server, for a whole lease), so the caller reconciles with sync.
ops.hb = function()
  if not load() then
    return {0, 0, -1}
  end
  local now = server_now()
  reap(now)
  local known = call('ZSCORE', K_P, SID) and 1 or 0
  touch(now)
  return {1, known, wake_after(now, dispatch(now))}
end

-- sync N GRANT... TICKET...: what the caller's process really holds (N grant ids) and
-- waits for (the tickets), sent when something may have gone astray: a release or a
-- cancel that did not reach the server, a session found reaped, a long silence. The
-- server then agrees with it: permits and hand-offs of this session that the process no
-- longer has are freed; permits it still has are counted again (it is using them,
-- whatever the server thought); tickets of this session it does not list leave the line.
-- Returns {1 if the limiter exists, listed tickets neither in line nor handed a grant,
-- wake us}.
ops.sync = function()
  if not load() then
    return {0, {}, -1}
  end
  local now = server_now()
  reap(now)
  touch(now)
  local n = tonumber(A[5])
  local grants, tickets = {}, {}
  for i = 6, 5 + n do
    grants[A[i]] = true
  end
  for i = 6 + n, #A do
    tickets[A[i]] = true
  end
  -- Hand-offs to our tickets: kept while the waiter is listed (the notification is on its
  -- way) or the permit is (it arrived); undone otherwise (the waiter gave up meanwhile).
  local handed = {}
  local g = call('ZRANGE', K_G, 0, -1, 'WITHSCORES')
  for i = 1, #g, 2 do
    if session_of(g[i]) == SID then
      local id = fmt(tonumber(g[i + 1]))
      if tickets[g[i]] or grants[id] then
        handed[id] = true
      else
        undo_handoff(g[i])
      end
    end
  end
  local counted = {}
  local owners = call('HGETALL', K_O)
  for i = 1, #owners, 2 do
    local id = owners[i]
    if owners[i + 1] == SID then
      if grants[id] or handed[id] then
        counted[id] = true
      else
        end_grant(id, nil)
      end
    end
  end
  -- Permits reaped while their process lives: counted again, with what their records
  -- say they held (one request if the record is gone).
  for id in pairs(grants) do
    if not counted[id] and tonumber(id) <= seq then
      call('ZADD', K_H, fmt(now), id)
      call('HSET', K_O, id, SID)
      local r = rec_get(id)
      if r and #r.c == P.n then
        call('ZREM', K_RT, id)
      else
        r = {t = now, c = {}, e = {}, s = {}}
        for j = 1, P.n do
          local l = P.limits[j]
          r.c[j], r.e[j], r.s[j] = (l.unit == 'requests' and l.held) and 1 or 0, -1, 0
        end
        rec_put(id, r)
      end
      for j = 1, P.n do
        if P.limits[j].held then
          U[j].used = U[j].used + r.c[j]
        end
      end
      dirty = true
    end
  end
  local lost = {}
  for ticket in pairs(tickets) do
    if not call('ZSCORE', K_Q, ticket) and not call('ZSCORE', K_G, ticket) then
      lost[#lost + 1] = ticket
    end
  end
  if qn > 0 then
    for _, ticket in ipairs(call('ZRANGE', K_Q, 0, -1)) do
      if session_of(ticket) == SID and not tickets[ticket] then
        ticket_del(ticket)
      end
    end
  end
  return {1, lost, wake_after(now, dispatch(now))}
end

-- disp: a timer of some process fired for the head's moment; grants what fits now.
-- Returns {wake us}.
ops.disp = function()
  if not load() then
    return {-1}
  end
  local now = server_now()
  return {wake_after(now, dispatch(now))}
end

-- pen DELAY: every sharer pauses until DELAY us from now (penalties only lengthen).
-- Returns {'ok', wake us} or {'nf'}.
ops.pen = function()
  if not load() then
    return {'nf'}
  end
  local now = server_now()
  -- Capped where a double is still exact: "practically forever", and still a time.
  local until_ = math.min(now + tonumber(A[5]), 9007199254740991)
  if until_ > pen then
    pen = until_
    dirty = true
  end
  return {'ok', wake_after(now, dispatch(now))}
end
