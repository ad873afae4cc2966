-- SPDX-License-Identifier: MIT
-- acq PV TICKET C1 .. CN: a permit now, or a place in line.
-- PV is the policy version the caller resolved its demand under, C1..CN its charge per
-- limit; a caller behind a policy change gets {'stale', POLICY} and resolves again (so
-- a charge is never applied to limits it was not meant for).
-- TICKET is the caller's own unique name for this wait; '' = try once, never queue; '-' =
-- the same, for a waiter whose time ran out before it could wait (a refusal is a timeout).
-- Returns the grant id (an integer), or {'queued', wake us}, {'again', retry us or -1},
-- {'stale', POLICY} or {'nf'} (no such limiter).
ops.acq = function()
  if not load() then
    return {'nf'}
  end
  if A[5] ~= fmt(P.pv) or #A - 6 ~= P.n then
    return {'stale', P.text}
  end
  local ch = {}
  for i = 1, P.n do
    ch[i] = tonumber(A[6 + i])
  end
  local ticket = A[6]
  local now = server_now()
  local blocked = dispatch(now)
  local retry = -1 -- for a try: only a release can help, or others are in line
  if blocked == nil then
    -- Nobody waits, so a new arrival may take what fits.
    local at = time_fit(ch, now)
    if at <= now and has_room(ch, now) then
      touch(now)
      return grant(ch, now, SID)
    end
    if at > now and at ~= INF then
      retry = at - now
    end
  end
  if ticket == '' or ticket == '-' then
    if ticket == '' then
      rej = rej + 1
    else
      tmo = tmo + 1
    end
    dirty = true
    return {'again', retry}
  end
  touch(now)
  ticket_add(ticket, ch, now)
  if blocked == nil then
    blocked = dispatch(now) -- the new ticket is the head: when could it fit?
  end
  return {'queued', wake_after(now, blocked)}
end
