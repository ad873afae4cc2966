local op = ops[OP]
if not op then
  return redis.error_reply('ptl: unknown limiter op ' .. tostring(OP))
end
local result = op()
if S then
  flush()
end
return result
