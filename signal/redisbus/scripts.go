package redisbus

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts that change room hashes, each documented in its file.
var (
	//go:embed join.lua
	joinLua string
	//go:embed sync.lua
	syncLua string

	joinScript = redis.NewScript(joinLua)
	syncScript = redis.NewScript(syncLua)
)
