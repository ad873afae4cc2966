-- rel GRANT ACTUAL_COST HANDOFF_TICKET: gives a permit back, corrects its cost in the
-- window ('' = no correction) and forgets the hand-off record it came with ('' = none).
-- Returns HELD, 1 if the permit was still held (0: its session was reaped, the release
-- was delivered twice, or the limiter is gone), when nobody waits, else {HELD, wake us}. When nobody waits and no cost changes,
-- neither s nor the clock is read.
ops.rel = function()
  local id, actual, ticket = A[5], A[6], A[7]
  local held = call('ZREM', K_H, id)
  call('HDEL', K_O, id)
  if ticket ~= '' then
    call('ZREM', K_G, ticket)
  end
  local loaded = false
  if actual ~= '' then
    if not load() then
      return held
    end
    loaded = true
    if mcpw > 0 and call('ZSCORE', K_W, id) then
      local old = tonumber(call('HGET', K_C, id) or 1)
      local new = tonumber(actual)
      if new == 1 then
        call('HDEL', K_C, id)
      else
        call('HSET', K_C, id, new)
      end
      wsum = wsum + new - old
      dirty = true
    end
  end
  if call('EXISTS', K_Q) == 0 then
    return held -- nobody to hand the permit to
  end
  if not loaded and not load() then
    return held
  end
  local now = server_now()
  return {held, wake_after(now, dispatch(now))}
end
