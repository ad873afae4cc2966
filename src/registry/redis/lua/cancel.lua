-- SPDX-License-Identifier: MIT
-- cxl TICKET REASON: a waiter gives up (REASON 't' timed out, 'c' cancelled, 'x' closed
-- or lost). If its ticket is still in line it leaves; if a grant was already handed to it
-- (the notification is still on its way) the grant is undone entirely, window entry
-- included: nobody ever used it, so a timed-out or cancelled acquire leaves no trace.
-- Returns {'left' | 'undone' | 'nf', wake us}.
ops.cxl = function()
  if not load() then
    return {'nf', -1}
  end
  local now = server_now()
  local ticket = A[5]
  local result = 'nf'
  local _, enq = ticket_info(ticket)
  if ticket_del(ticket) == 1 then
    if enq then
      waitus = waitus + now - enq
      dirty = true
    end
    result = 'left'
  elseif undo_handoff(ticket) then
    result = 'undone'
  end
  if result ~= 'nf' then
    local reason = A[6]
    if reason == 't' then
      tmo = tmo + 1
      dirty = true
    elseif reason == 'c' then
      can = can + 1
      dirty = true
    end
  end
  return {result, wake_after(now, dispatch(now))}
end
