-- Counts one failure of a key whose count lasts a fixed window from its
-- first failure (the window the hub's own throttle uses), so that every
-- node adds to and reads one count.
--
-- KEYS[1] the failure key. ARGV[1] the window in ms.
-- Returns the count, this failure included.
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
