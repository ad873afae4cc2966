-- acq COST TICKET: a permit now, or a place in line.
-- TICKET is the caller's own unique name for this wait; '' = try once, never queue; '-' =
-- the same, for a waiter whose time ran out before it could wait (a refusal is a timeout).
-- Returns the grant id (an integer), or {'queued', wake us}, {'again', retry us or -1},
-- {'inval', max_cost_per_window} or {'nf'} (no such limiter).
ops.acq = function()
  if not load() then
    return {'nf'}
  end
  local cost = tonumber(A[5])
  if mcpw > 0 and cost > mcpw then
    return {'inval', mcpw}
  end
  local ticket = A[6]
  local now = server_now()
  local blocked = dispatch(now)
  local retry = -1 -- for a try: only a release can help, or others are in line
  if blocked == nil then
    -- Nobody waits, so a new arrival may take what fits.
    local at = time_fit(cost, now)
    if at <= now and has_room(now) then
      touch(now)
      return grant(cost, now, SID)
    end
    if at > now then
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
  ticket_add(ticket, cost, now)
  if blocked == nil then
    blocked = dispatch(now) -- the new ticket is the head: when could it fit?
  end
  return {'queued', wake_after(now, blocked)}
end
