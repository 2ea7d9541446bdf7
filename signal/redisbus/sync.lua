-- Makes node ARGV[1]'s entries in room hash KEYS[1] exactly the id/JSON
-- pairs in ARGV[6...], keeps room ARGV[4] in the node's set of rooms KEYS[2]
-- while it has entries, refreshes the TTL (ARGV[5] ms) of the room and of its
-- control key KEYS[3], and publishes the sync event ARGV[3] on channel
-- ARGV[2].
local keep = {}
if #ARGV > 5 then
  redis.call('SADD', KEYS[2], ARGV[4])
else
  redis.call('SREM', KEYS[2], ARGV[4])
end
for i = 6, #ARGV, 2 do
  keep[ARGV[i]] = true
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  if redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('PEXPIRE', KEYS[3], ARGV[5])
  end
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if not keep[all[i]] then
    local ok, m = pcall(cjson.decode, all[i + 1])
    if not ok or type(m) ~= 'table' or m.node == ARGV[1] then
      redis.call('HDEL', KEYS[1], all[i])
    end
  end
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
