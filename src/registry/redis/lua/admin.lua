-- reg MODE MC MPW WS WUS MCPW: creates the limiter, or changes its limits in place.
-- MODE 'create' fails if it exists, 'replace' reconfigures it (holders, waiters and
-- the window log stay and still count), 'goc' returns the existing limits instead,
-- 'update' reconfigures only an existing one.
-- Returns {'created'}, {'replaced'}, {'exists'}, {'nf'} or {'found', MC, MPW, WS, MCPW}.
ops.reg = function()
  local mode = A[5]
  local existed = load()
  if not existed and mode == 'update' then
    return {'nf'}
  end
  if existed and mode == 'create' then
    return {'exists'}
  end
  if existed and mode == 'goc' then
    return {'found', mc, mpw, call('HGET', K_S, 'ws'), mcpw}
  end
  if not existed then
    mc, mpw, wus, mcpw, last, seq, tseq, pen, wsum, wk, wn, ev, qn, acq, rej, tmo, can, waitus =
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    last = server_now()
    seq = last -- grant ids start at the creation time (see grant())
  end
  local old_mcpw = mcpw
  mc, mpw, wus, mcpw = tonumber(A[6]), tonumber(A[7]), tonumber(A[9]), tonumber(A[10])
  call('HSET', K_S, 'mc', A[6], 'mpw', A[7], 'ws', A[8], 'mcpw', A[10])
  if mcpw == 0 then
    call('DEL', K_C)
    wsum = 0
  elseif old_mcpw == 0 then
    -- Costs were not kept without a cost limit: what the window holds counts 1 each.
    wsum = wn
  end
  ev = 0 -- the window may have changed: trim at the next look
  dirty = true
  local now = server_now()
  wake_after(now, dispatch(now)) -- larger limits may let waiters in at once
  if existed then
    return {'replaced'}
  end
  return {'created'}
end

-- rm: deletes the limiter; waiters of every process are told ('r').
-- Returns 1 if it existed.
ops.rm = function()
  local existed = call('HEXISTS', K_S, 'mc')
  call('DEL', K_S, K_H, K_W, K_C, K_Q, K_P, K_QI, K_G, K_O)
  call('PUBLISH', CHANNEL, 'r')
  return existed
end

-- stats: {MC, MPW, WS, MCPW, in flight, waiting, window count, window cost, acquired,
-- timeouts, cancelled, rejected, wait us}, or {} if there is no such limiter.
ops.stats = function()
  if not load() then
    return {}
  end
  local now = server_now()
  local held = call('ZCARD', K_H) - reap(now)
  local count, cost = 0, 0
  if mpw > 0 or mcpw > 0 then
    evict(now)
    count = wn
    cost = wn
    if mcpw > 0 then
      cost = wsum
    end
  end
  return {mc, mpw, call('HGET', K_S, 'ws'), mcpw, held, qn, count, cost, acq, tmo, can, rej,
          waitus}
end
