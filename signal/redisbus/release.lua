-- Releases a node's claim on the media of a room, if it still holds it.
--
-- KEYS[1] the room's media key. ARGV[1] the releasing node.
-- Returns 1 if the claim was released.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
