-- Removes a peer from a room, publishes the leave event, and counts the
-- members of live nodes left in the room (as join.lua counts them), so that
-- of the leaves of a room exactly one, the one that emptied it, reports its
-- end. With the room's last entry gone, the room's control state (lock,
-- password, removals) goes too, so a room started again under the same name
-- starts open.
--
-- KEYS[1] room hash, KEYS[2] the room's control key.
-- ARGV: 1 peer id, 2 events channel, 3 leave event, 4 node key prefix.
-- Returns the number of members of live nodes left in the room.
redis.call('HDEL', KEYS[1], ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 then
  redis.call('DEL', KEYS[2])
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
local live = 0
for i = 2, #all, 2 do
  local ok, m = pcall(cjson.decode, all[i])
  if ok and type(m) == 'table' and type(m.node) == 'string' and redis.call('EXISTS', ARGV[4] .. m.node) == 1 then
    live = live + 1
  end
end
return live
