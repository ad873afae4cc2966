-- SPDX-License-Identifier: MIT
-- One call: binds the call's keys and arguments, runs the op, writes b (and c) if it changed.
-- The library registers run as its function; the script form ends with run(KEYS, ARGV).
local function run(keys, argv)
  call = redis.call
  K_S, K_H, K_O, K_Q, K_QI, K_P, K_G, K_R, K_RT, K_W =
    keys[1], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7], keys[8], keys[9], keys[10]
  A, CHANNEL, SID = argv, argv[2], argv[3]
  dirty, caps_dirty = false, false
  reuse_b, reuse_p, kept_b, kept_p = kept_b, kept_p, nil, nil
  local op = ops[argv[1]]
  if not op then
    return redis.error_reply('ptl: unknown limiter op ' .. tostring(argv[1]))
  end
  local result = op()
  if dirty or caps_dirty then
    store()
  end
  return result
end
