package redisbus

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts that change room hashes, control keys, media claims and failure counts, each documented
// in its file.
var (
	//go:embed join.lua
	joinLua string
	//go:embed sync.lua
	syncLua string
	//go:embed claim.lua
	claimLua string
	//go:embed release.lua
	releaseLua string
	//go:embed leave.lua
	leaveLua string
	//go:embed fail.lua
	failLua string

	joinScript    = redis.NewScript(joinLua)
	syncScript    = redis.NewScript(syncLua)
	claimScript   = redis.NewScript(claimLua)
	releaseScript = redis.NewScript(releaseLua)
	leaveScript   = redis.NewScript(leaveLua)
	failScript    = redis.NewScript(failLua)
)
