-- Removes a peer from a room and publishes the leave event; with the room's
-- last entry gone, the room's control state (lock, password, removals) goes
-- too, so a room started again under the same name starts open.
--
-- KEYS[1] room hash, KEYS[2] the room's control key.
-- ARGV: 1 peer id, 2 events channel, 3 leave event.
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
