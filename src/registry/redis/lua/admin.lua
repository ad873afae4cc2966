-- reg MODE MC MPW WS WUS MCPW: creates the limiter, or changes its limits in place.
-- MODE 'create' fails if it exists, 'replace' reconfigures it (holders, waiters and
-- the window log stay and still count), 'goc' returns the existing limits instead,
-- 'update' reconfigures only an existing one.
-- Returns {'created'}, {'replaced'}, {'exists'}, {'nf'} or {'found', MC, MPW, WS, MCPW}.
if OP == 'reg' then
  ops.reg = function()
    local mode = ARGV[4]
    local existed = load()
    if not existed and mode == 'update' then
      return {'nf'}
    end
    if existed and mode == 'create' then
      return {'exists'}
    end
    if existed and mode == 'goc' then
      return {'found', S.mc, S.mpw, S.ws, S.mcpw}
    end
    if not existed then
      S = {}
      for _, f in ipairs(FIELDS) do
        set(f, 0)
      end
      local now = server_now()
      set('now', now)
      set('seq', now) -- grant ids start at the creation time (see grant())
    end
    local old_mcpw = S.mcpw
    set('mc', tonumber(ARGV[5]))
    set('mpw', tonumber(ARGV[6]))
    set('ws', ARGV[7])
    set('wus', tonumber(ARGV[8]))
    set('mcpw', tonumber(ARGV[9]))
    if S.mcpw == 0 then
      call('DEL', K_C)
      set('wsum', 0)
    elseif old_mcpw == 0 then
      -- Costs were not kept without a cost limit: what the window holds counts 1 each.
      set('wsum', S.wn)
    end
    local now = server_now()
    wake_after(now, dispatch(now)) -- larger limits may let waiters in at once
    if existed then
      return {'replaced'}
    end
    return {'created'}
  end
end

-- rm: deletes the limiter; waiters of every process are told ('r').
-- Returns 1 if it existed.
if OP == 'rm' then
  ops.rm = function()
    local existed = call('HEXISTS', K_S, 'mc')
    call('DEL', K_S, K_H, K_W, K_C, K_Q, K_QE, K_QI, K_G)
    call('PUBLISH', CHANNEL, 'r')
    return existed
  end
end

-- stats: {MC, MPW, WS, MCPW, in flight, waiting, window count, window cost, acquired,
-- timeouts, cancelled, rejected, wait us}, or {} if there is no such limiter.
if OP == 'stats' then
  ops.stats = function()
    if not load() then
      return {}
    end
    local now = server_now()
    reclaim_holders(now)
    reclaim_tickets(now)
    local cost = 0
    if windowed() then
      evict(now)
      cost = S.wn
      if S.mcpw > 0 then
        cost = S.wsum
      end
    end
    return {S.mc, S.mpw, S.ws, S.mcpw, S.hn, S.qn, windowed() and S.wn or 0, cost, S.acq,
            S.tmo, S.can, S.rej, S.waitus}
  end
end
