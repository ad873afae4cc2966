-- renew N GRANT... TICKET...: the holder's process is alive: N grants and the tickets
-- after them get a fresh lease. Extends only what still exists (a permit whose lease
-- ended may have been granted to someone else already; it is never brought back).
-- Returns {1 if the limiter exists, lost grants, lost tickets, wake us}.
ops.renew = function()
  if not load() then
    return {0, {}, {}, -1}
  end
  local now = server_now()
  local lease_end = fmt(now + tonumber(A[3]))
  local n = tonumber(A[4])
  local lost_grants, lost_tickets = {}, {}
  for i = 5, 4 + n do
    if call('ZSCORE', K_H, A[i]) then
      call('ZADD', K_H, lease_end, A[i])
    else
      lost_grants[#lost_grants + 1] = A[i]
    end
  end
  for i = 5 + n, #A do
    local ticket = A[i]
    if call('ZSCORE', K_QE, ticket) then
      call('ZADD', K_QE, lease_end, ticket)
    else
      -- Handed a grant whose notification is on its way: keep the grant alive.
      local id = call('ZSCORE', K_G, ticket)
      if id and call('ZSCORE', K_H, fmt(tonumber(id))) then
        call('ZADD', K_H, lease_end, fmt(tonumber(id)))
      else
        lost_tickets[#lost_tickets + 1] = ticket
      end
    end
  end
  return {1, lost_grants, lost_tickets, wake_after(now, dispatch(now))}
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
  local until_ = math.min(now + tonumber(A[4]), 9007199254740991)
  if until_ > pen then
    pen = until_
    dirty = true
  end
  return {'ok', wake_after(now, dispatch(now))}
end
