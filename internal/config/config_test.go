package config

import (
	"strings"
	"testing"

	"github.com/rtcd/rtcd/turn"
	"github.com/zeromicro/go-zero/core/conf"
)

// TestTurnDefaultsAgree: the relay's limits in etc/rtcd.yaml, the struct
// tags go-zero fills from, and the constants a Config built in Go gets are
// one set of numbers.
func TestTurnDefaultsAgree(t *testing.T) {
	embedded, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	var bare Config
	if err := conf.LoadFromYamlBytes([]byte("Name: rtcd\nPort: 8080\n"), &bare); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name            string
		yaml, tag, code int
	}{
		{"MinPort", embedded.Turn.MinPort, bare.Turn.MinPort, turn.DefaultMinPort},
		{"MaxPort", embedded.Turn.MaxPort, bare.Turn.MaxPort, turn.DefaultMaxPort},
		{"MaxAllocationsPerUser", embedded.Turn.MaxAllocationsPerUser, bare.Turn.MaxAllocationsPerUser, turn.DefaultMaxAllocationsPerUser},
		{"MaxAllocationsPerAddress", embedded.Turn.MaxAllocationsPerAddress, bare.Turn.MaxAllocationsPerAddress, turn.DefaultMaxAllocationsPerAddr},
		{"MaxAllocations", embedded.Turn.MaxAllocations, bare.Turn.MaxAllocations, turn.DefaultMaxAllocations},
		{"MaxTCPConnections", embedded.Turn.MaxTCPConnections, bare.Turn.MaxTCPConnections, turn.DefaultMaxTCPConnections},
		{"MaxTCPConnectionsPerAddress", embedded.Turn.MaxTCPConnectionsPerAddress, bare.Turn.MaxTCPConnectionsPerAddress, turn.DefaultMaxTCPConnsPerAddr},
		{"BindingRate", embedded.Turn.BindingRate, bare.Turn.BindingRate, turn.DefaultBindingRate},
		{"BindingBurst", embedded.Turn.BindingBurst, bare.Turn.BindingBurst, turn.DefaultBindingBurst},
	} {
		if c.yaml != c.code || c.tag != c.code {
			t.Errorf("Turn.%s: etc/rtcd.yaml %d, struct tag %d, turn package %d", c.name, c.yaml, c.tag, c.code)
		}
	}
}

// TestTurnLimitsRefuseNegative: a negative limit names its field.
func TestTurnLimitsRefuseNegative(t *testing.T) {
	for name, set := range map[string]func(*turn.Config){
		"Turn.MaxAllocationsPerAddress":    func(c *turn.Config) { c.MaxAllocationsPerAddress = -1 },
		"Turn.MaxTCPConnectionsPerAddress": func(c *turn.Config) { c.MaxTCPConnectionsPerAddress = -1 },
		"Turn.BindingRate":                 func(c *turn.Config) { c.BindingRate = -1 },
		"Turn.BindingBurst":                func(c *turn.Config) { c.BindingBurst = -1 },
	} {
		c := Default()
		set(&c.Turn)
		err := c.Validate()
		if err == nil || len(err.Error()) < len(name) || err.Error()[:len(name)] != name {
			t.Errorf("%s = -1: error %v, want one naming the field", name, err)
		}
	}
}

// TestTURNOnlyValidation: TURN-only mode needs a configured secret and
// cannot be a cluster node.
func TestTURNOnlyValidation(t *testing.T) {
	c := Default()
	c.Signal.Disabled = true
	c.Auth.Secrets = nil
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "Auth.Secrets") {
		t.Errorf("no secret: %v", err)
	}
	c.Auth.Secrets = []string{"s"}
	if err := c.Validate(); err != nil {
		t.Errorf("TURN-only with a secret: %v", err)
	}
	c.Cluster.Enabled, c.Cluster.RedisAddr = true, "127.0.0.1:6379"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "Cluster.Enabled") {
		t.Errorf("TURN-only cluster: %v", err)
	}
}
