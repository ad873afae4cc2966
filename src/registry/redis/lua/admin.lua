-- SPDX-License-Identifier: MIT
-- reg MODE SH CW N UNIT MAX WNS WUS ...: creates the limiter, or changes its policy in
-- place (policy.lua: limits that continue keep their state). MODE 'create' fails if it
-- exists, 'replace' changes it, 'goc' returns the existing policy instead, 'update'
-- changes only an existing one.
-- Returns {'created' | 'replaced' | 'found', POLICY}, {'exists'} or {'nf'}.
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
    return {'found', P.text}
  end
  local body = table.concat(A, ' ', 6)
  if not existed then
    last, seq, tseq, pen, wk, qn, acq, rej, tmo, can, waitus = 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    last = server_now()
    seq = last -- grant ids start at the creation time (see grant())
    -- Policy versions start at the creation time too: a limiter removed and created
    -- again never takes up a version a client may still hold for the old one.
    P = policy_of(fmt(last) .. ' ' .. body)
    U = {}
    for i = 1, P.n do
      U[i] = fresh_limit()
    end
    CAPS = {}
    caps_dirty = false
  else
    change_policy(policy_of(fmt(P.pv + 1) .. ' ' .. body))
  end
  call('HSET', K_S, 'v', '2', 'p', P.text)
  dirty = true
  local now = server_now()
  wake_after(now, dispatch(now)) -- larger limits may let waiters in at once
  if existed then
    return {'replaced', P.text}
  end
  return {'created', P.text}
end

-- rm: deletes the limiter; waiters of every process are told ('r').
-- Returns 1 if it existed (in either layout).
ops.rm = function()
  local existed = call('EXISTS', K_S)
  call('DEL', K_S, K_H, K_O, K_Q, K_QI, K_P, K_G, K_R, K_RT, K_W)
  call('PUBLISH', CHANNEL, 'r')
  return existed
end

-- stats: {POLICY, in flight, waiting, acquired, timeouts, cancelled, rejected, wait us,
-- then the use of each limit (its window's sum, or what it holds)}, or {} if there is no
-- such limiter.
ops.stats = function()
  if not load() then
    return {}
  end
  local now = server_now()
  reap(now)
  local out = {P.text, call('ZCARD', K_H), qn, acq, tmo, can, rej, waitus}
  for i = 1, P.n do
    if not P.limits[i].held then
      evict(i, now)
    end
    out[#out + 1] = U[i].used
  end
  return out
end

-- use UNIT WNS: one limit's use now (ptl_limiter_usage). Returns {'ok', MAX, USED, CAP
-- (-1: no observation in force), NEXT us (0: fits now, -1: a release must come)},
-- {'none'} (no such limit) or {'nf'}.
ops.use = function()
  if not load() then
    return {'nf'}
  end
  local i
  for k = 1, P.n do
    if P.limits[k].unit == A[5] and P.limits[k].wns == A[6] then
      i = k
    end
  end
  if not i then
    return {'none'}
  end
  local l, u = P.limits[i], U[i]
  local now = server_now()
  local fit = math.max(now, pen)
  if l.held then
    if u.used >= l.max then
      fit = INF
    end
  else
    evict(i, now)
    fit = math.max(fit, window_fit(i, now, 1))
  end
  local cap = -1
  caps_evict(now)
  for _, c in ipairs(CAPS[l.unit] or {}) do
    if cap < 0 or c[1] < cap then
      cap = c[1]
    end
    if fit ~= INF and c[1] < 1 then
      fit = math.max(fit, c[2])
    end
  end
  local next_us = -1
  if fit ~= INF then
    next_us = fit - now
  end
  return {'ok', l.max, u.used, cap, next_us}
end
