-- Joins a peer to a room if the room has space, counting only the members
-- of live nodes (entries of dead nodes are removed on the way), and
-- publishes the join event and the room's snapshot in the same atomic step:
-- the snapshot reaches the joining node at its exact place among the
-- events, so no event is missed or applied twice.
--
-- KEYS[1] room hash, KEYS[2] the joining node's set of rooms.
-- ARGV: 1 peer id, 2 member JSON, 3 room size, 4 node key prefix,
-- 5 events channel, 6 join event, 7 the joining node's channel,
-- 8 request id, 9 "1" when resuming (an existing entry for the peer skips
-- the capacity check), 10 room name, 11 key TTL in ms.
-- Returns {0, ''} when the room is full, else {1, snapshot}. The first live
-- member of a room (not a resumed one) is its host: the script marks it so
-- in what it stores and publishes, so every node learns it with the join.
local all = redis.call('HGETALL', KEYS[1])
local live, n, known = {}, 0, false
for i = 1, #all, 2 do
  local id, v = all[i], all[i + 1]
  if id == ARGV[1] then
    known = true
  else
    local ok, m = pcall(cjson.decode, v)
    if ok and type(m) == 'table' and type(m.node) == 'string' and redis.call('EXISTS', ARGV[4] .. m.node) == 1 then
      n = n + 1
      live[#live + 1] = v
    else
      redis.call('HDEL', KEYS[1], id)
    end
  end
end
if n >= tonumber(ARGV[3]) and not (ARGV[9] == '1' and known) then
  return {0, ''}
end
local member, event = ARGV[2], ARGV[6]
if n == 0 and ARGV[9] ~= '1' then
  local m = cjson.decode(member)
  m.host = true
  member = cjson.encode(m)
  local e = cjson.decode(event)
  e.member = m
  event = cjson.encode(e)
end
redis.call('HSET', KEYS[1], ARGV[1], member)
redis.call('PEXPIRE', KEYS[1], ARGV[11])
redis.call('SADD', KEYS[2], ARGV[10])
redis.call('PUBLISH', ARGV[5], event)
local snap = '{"t":"snap","req":"' .. ARGV[8] .. '","members":[' .. table.concat(live, ',') .. ']}'
redis.call('PUBLISH', ARGV[7], snap)
return {1, snap}
