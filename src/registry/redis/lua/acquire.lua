-- acq COST TICKET: a permit now, or a place in line.
-- TICKET is the caller's own unique name for this wait ('' = try once, never queue).
-- Returns {'ok', grant id, server time}, {'queued', wake us}, {'again', retry us or -1},
-- {'inval', max_cost_per_window} or {'nf'} (no such limiter).
if OP == 'acq' then
  ops.acq = function()
    if not load() then
      return {'nf'}
    end
    local cost = tonumber(ARGV[4])
    if S.mcpw > 0 and cost > S.mcpw then
      return {'inval', S.mcpw}
    end
    local ticket = ARGV[5]
    local now = server_now()
    local blocked = dispatch(now)
    local retry = -1 -- for a try: only a release can help, or others are in line
    if blocked == nil then
      -- Nobody waits, so a new arrival may take what fits.
      local at = time_fit(cost, now)
      if at <= now and has_room(now) then
        return {'ok', grant(cost, now, now + LEASE), now}
      end
      if at > now then
        retry = at - now
      end
    end
    if ticket == '' then
      add('rej', 1)
      return {'again', retry}
    end
    ticket_add(ticket, cost, now)
    if blocked == nil then
      blocked = dispatch(now) -- the new ticket is the head: when could it fit?
    end
    return {'queued', wake_after(now, blocked)}
  end
end
