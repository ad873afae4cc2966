-- SPDX-License-Identifier: MIT
-- rel GRANT TOKENS HANDOFF_TICKET: gives a permit back, with what it holds in every held
-- limit; TOKENS is 0.1's release_cost ('' = none): the grant's tokens are settled to it
-- first, unless settled already. Forgets the hand-off record it came with ('' = none).
-- Returns HELD, 1 if the permit was still held (0: its session was reaped, the release
-- was delivered twice, or the limiter is gone), when nobody waits, else {HELD, wake us}.
-- Idempotent: grant ids never repeat, so a kept release delivered twice changes nothing.
ops.rel = function()
  local id, tokens, ticket = A[5], A[6], A[7]
  if ticket ~= '' then
    call('ZREM', K_G, ticket)
  end
  if not load() then
    return 0
  end
  local now = server_now()
  local held = end_grant(id, tokens ~= '' and tonumber(tokens) or nil)
  trim_released(now)
  if qn == 0 then
    return held -- nobody to hand the permit to
  end
  return {held, wake_after(now, dispatch(now))}
end

-- stl GRANT LENIENT UNIT AMOUNT ...: the real usage of a grant, held or released (ADR 15):
-- each unit replaces the estimate in every limit of that unit, once per unit and grant.
-- LENIENT '1' ignores a "tokens" unit the policy lacks (0.1's release_cost). Checks all
-- before changing anything. Returns {'ok', wake us}, {'forgotten'} (no record: never
-- granted, or released longer ago than its windows), {'twice', UNIT}, {'unit', UNIT}
-- (not in the policy) or {'nf'}.
ops.stl = function()
  if not load() then
    return {'nf'}
  end
  local id, lenient = A[5], A[6] == '1'
  local now = server_now()
  trim_released(now)
  local r = rec_get(id)
  if not r or #r.c ~= P.n then
    return {'forgotten'}
  end
  local todo = {}
  for k = 7, #A - 1, 2 do
    local unit = A[k]
    if P.units[unit] then
      if settled(r, unit) then
        return {'twice', unit}
      end
      todo[#todo + 1] = {unit, tonumber(A[k + 1])}
    elseif not (lenient and unit == 'tokens') then
      return {'unit', unit}
    end
  end
  local held = call('ZSCORE', K_H, id) ~= false
  for _, t in ipairs(todo) do
    settle_unit(r, t[1], t[2], held)
  end
  if held then
    rec_put(id, r)
  else
    keep_or_drop(id, r)
  end
  return {'ok', wake_after(now, dispatch(now))} -- less than estimated frees room at once
end

-- obs UNIT REMAINING RESET_US: the provider says at most REMAINING more of UNIT until
-- RESET_US from now; kept with the limiter, so every process and host obeys it.
-- Returns {'ok', wake us}, {'unit'} (not in the policy) or {'nf'}.
ops.obs = function()
  if not load() then
    return {'nf'}
  end
  local unit = A[5]
  if not P.units[unit] then
    return {'unit'}
  end
  local now = server_now()
  caps_observe(unit, tonumber(A[6]), math.min(now + tonumber(A[7]), EXACT), now)
  return {'ok', wake_after(now, dispatch(now))}
end
