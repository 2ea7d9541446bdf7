-- Claims the media of a room for a node unless a live node holds the claim:
-- the room's media then lives on one node of the cluster. A claim whose node
-- stopped heartbeating (its node key expired or was deleted at stop) is
-- taken over. The winner's claim is (re)written with the key TTL, so that
-- the periodic refresh keeps it and Redis forgets one no node refreshes.
--
-- KEYS[1] the room's media key.
-- ARGV: 1 the claiming node, 2 node key prefix, 3 key TTL in ms.
-- Returns the node that carries the room's media.
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. cur) == 1 then
  return cur
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return ARGV[1]
