-- rel GRANT ACTUAL_COST HANDOFF_TICKET: gives a permit back, corrects its cost in the
-- window ('' = no correction) and forgets the hand-off record it came with ('' = none).
-- Returns {1 if the permit was still held (0: its lease had ended), wake us}.
if OP == 'rel' then
  ops.rel = function()
    if not load() then
      return {0, -1}
    end
    local id, actual, ticket = ARGV[4], ARGV[5], ARGV[6]
    local held = holder_del(id)
    if ticket ~= '' then
      call('ZREM', K_G, ticket)
    end
    if actual ~= '' and S.mcpw > 0 and call('ZSCORE', K_W, id) then
      local old = tonumber(call('HGET', K_C, id) or 1)
      local new = tonumber(actual)
      if new == 1 then
        call('HDEL', K_C, id)
      else
        call('HSET', K_C, id, new)
      end
      add('wsum', new - old)
    end
    if S.qn == 0 then
      return {held, -1} -- nobody to hand the permit to: no clock needed
    end
    local now = server_now()
    return {held, wake_after(now, dispatch(now))}
  end
end
