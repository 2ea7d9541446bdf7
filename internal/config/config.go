// Package config composes the configuration of every rtcd service into the
// one file the daemon reads (etc/rtcd.yaml), and checks it as a whole before
// anything listens, so that a mistake names its field instead of surfacing
// later as a half-started daemon.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/service"
	"github.com/zeromicro/go-zero/rest"
	"gopkg.in/yaml.v2"

	"github.com/rtcd/rtcd/auth"
	"github.com/rtcd/rtcd/etc"
	"github.com/rtcd/rtcd/internal/sfu"
	"github.com/rtcd/rtcd/internal/tlsconf"
	"github.com/rtcd/rtcd/internal/webhook"
	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/redisbus"
	"github.com/rtcd/rtcd/turn"
)

// Config is the whole daemon configuration. RestConf is embedded because
// go-zero's rest server is configured from it directly (Name, Host, Port,
// Log, Timeout...); the other sections are owned by their packages.
type Config struct {
	rest.RestConf
	Auth   auth.Config
	Turn   turn.Config
	Signal signal.Config
	// TLS turns the main port into HTTPS/WSS and enables TURN over TLS.
	TLS tlsconf.Config `json:",optional"`
	// Cluster lets several nodes share rooms through Redis (docs/cluster.md).
	Cluster redisbus.Config `json:",optional"`
	// SFU is where the media server listens (Signal.Media auto or sfu).
	SFU sfu.Section `json:",optional"`
	// Admin is the admin API under /api/v1/admin (docs/admin-api.yaml),
	// off while its token is empty.
	Admin signal.AdminConfig `json:",optional"`
	// Webhooks posts room and participant events to the operator's
	// receivers, signed; off while it has no URLs.
	Webhooks webhook.Config `json:",optional"`
}

// Validate checks the sections against each other and names the field at
// fault. go-zero calls it when the file is loaded.
func (c Config) Validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("Port: %d is not a TCP port", c.Port)
	}
	// Each section's errors already name their field (e.g. "Turn.MinPort: ...").
	if err := c.Auth.Validate(); err != nil {
		return err
	}
	if err := c.Turn.Validate(); err != nil {
		return err
	}
	if err := c.Signal.Validate(); err != nil {
		return err
	}
	if err := c.TLS.Validate(); err != nil {
		return fmt.Errorf("TLS.%w", err)
	}
	if err := c.Cluster.Validate(); err != nil {
		return err
	}
	if err := c.SFU.Validate(); err != nil {
		return err
	}
	if err := c.Admin.Validate(); err != nil {
		return err
	}
	if err := c.Webhooks.Validate(); err != nil {
		return err
	}
	if c.Signal.Disabled && c.Webhooks.Enabled() {
		return errors.New("Webhooks.URLs: webhooks report signaling rooms; TURN-only mode (Signal.Disabled: true) has none")
	}
	if c.Signal.Disabled && c.Admin.Enabled() {
		return errors.New("Admin.Token: the admin API moderates signaling rooms; TURN-only mode (Signal.Disabled: true) has none")
	}
	if c.Cluster.Enabled && len(c.TURNSecrets()) == 0 {
		return errors.New("Auth.Secrets: Cluster.Enabled needs a TURN secret shared by every node (set RTCD_TURN_SECRET), or credentials from one node fail on the others")
	}
	if c.DevServer.Enabled && !isLoopbackHost(c.DevServer.Host) {
		return fmt.Errorf("DevServer.Host: %q is not a loopback address; metrics and pprof must not be public", c.DevServer.Host)
	}
	if c.CertFile != "" || c.KeyFile != "" {
		return errors.New("CertFile/KeyFile: use TLS.CertFile and TLS.KeyFile (the top-level keys are go-zero's and unused)")
	}
	if !c.TLS.Enabled() && (c.Turn.OnePort || c.Turn.TLSListen != "") {
		return errors.New("Turn.OnePort/Turn.TLSListen: TURN over TLS needs the TLS section (TLS.CertFile/KeyFile or TLS.ACMEDomains)")
	}
	if c.Signal.Disabled && len(c.TURNSecrets()) == 0 {
		return errors.New("Auth.Secrets: TURN-only mode (Signal.Disabled: true) needs the shared secret your platform mints credentials with (set RTCD_TURN_SECRET)")
	}
	if c.Signal.Disabled && c.Cluster.Enabled {
		return errors.New("Cluster.Enabled: clustering shares signaling rooms; TURN-only mode (Signal.Disabled: true) has none")
	}
	if !c.Signal.Disabled && c.Signal.Mode == "token" && len(c.Auth.TokenSecret) < 16 {
		return errors.New("Auth.TokenSecret: Signal.Mode is token, so a secret of at least 16 bytes is required (set RTCD_TOKEN_SECRET)")
	}
	return nil
}

// isLoopbackHost reports whether host is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// TURNSecrets returns the configured TURN secrets without the empty entries
// that an unset ${RTCD_TURN_SECRET} leaves behind.
func (c Config) TURNSecrets() []string {
	var out []string
	for _, s := range c.Auth.Secrets {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Load reads path, expanding ${ENV} references, fills defaults and validates.
// An empty path means the embedded etc/rtcd.yaml. Every key may be left out:
// the loaded Config has the defaults in every field a file does not set
// (withDefaults), so etc/rtcd.yaml only spells them out for people to read,
// and a test keeps it equal to them.
func Load(path string) (Config, error) {
	var c Config
	text := os.ExpandEnv(string(etc.DefaultYAML))
	if path == "" {
		if err := conf.LoadFromYamlBytes([]byte(text), &c); err != nil {
			return c, fmt.Errorf("embedded etc/rtcd.yaml: %w", err)
		}
	} else {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config file: %w", err)
		}
		text = os.ExpandEnv(string(b))
		if err := conf.Load(path, &c, conf.UseEnv()); err != nil {
			return c, fmt.Errorf("config file %s: %w", path, explainBool(err))
		}
	}
	set, err := keysSet(path, text)
	if err != nil {
		return c, fmt.Errorf("config file %s: %w", path, err)
	}
	return c.withDefaults(set), nil
}

// explainBool names the likely cause of a type mismatch at Turn.FastPath:
// YAML 1.1, which go-zero reads, takes a bare off or on for a boolean.
func explainBool(err error) error {
	if msg := err.Error(); strings.Contains(msg, "type mismatch") && strings.Contains(strings.ToLower(msg), `fastpath"`) {
		return fmt.Errorf(`Turn.FastPath: quote the value ("off", "on"): YAML reads a bare off or on as a boolean: %w`, err)
	}
	return err
}

// Defaults rtcd chooses for go-zero's own keys, where go-zero's are not
// right for a daemon that serves calls: plain-text logs without the
// per-minute stat lines, a 10 s HTTP timeout (WebSockets are exempt), and
// the metrics and pprof server on loopback only (go-zero's listens on every
// interface).
const (
	defaultTimeoutMs     = 10000
	defaultLogEncoding   = "plain"
	defaultDevServerHost = "127.0.0.1"
)

// withDefaults fills every field the file left out: go-zero's keys that rtcd
// defaults differently (set reports which keys the file has, since go-zero
// has already filled its own defaults in), and each section's zero fields
// from that section's WithDefaults, the one place its defaults live.
func (c Config) withDefaults(set func(path ...string) bool) Config {
	if !set("Timeout") {
		c.Timeout = defaultTimeoutMs
	}
	if !set("Log", "Encoding") {
		c.Log.Encoding = defaultLogEncoding
	}
	if !set("Log", "Stat") {
		c.Log.Stat = false
	}
	switch {
	case !set("DevServer"):
		c.DevServer = defaultDevServer()
	case !set("DevServer", "Host"):
		c.DevServer.Host = defaultDevServerHost
	}
	c.Auth = c.Auth.WithDefaults()
	c.Turn = c.Turn.WithDefaults()
	c.Signal = c.Signal.WithDefaults()
	c.Cluster = c.Cluster.WithDefaults()
	c.SFU = c.SFU.WithDefaults()
	c.Webhooks = c.Webhooks.WithDefaults()
	return c
}

// defaultDevServer is go-zero's metrics and pprof server with go-zero's
// defaults (which it applies only to a DevServer section that is present),
// on loopback.
func defaultDevServer() devserver {
	var c struct{ DevServer devserver }
	if err := conf.LoadFromYamlBytes([]byte("DevServer:\n  Host: "+defaultDevServerHost+"\n"), &c); err != nil {
		panic(fmt.Sprintf("config: go-zero's DevServer defaults: %v", err)) // a build defect, caught by tests
	}
	return c.DevServer
}

// devserver is go-zero's DevServer section type.
type devserver = service.DevServerConfig

// keysSet parses a config file's text as YAML (JSON is YAML too) and
// returns whether it sets a key path. Files of other formats (TOML) count as
// setting every key, so nothing of theirs is overridden.
func keysSet(path, text string) (func(path ...string) bool, error) {
	if ext := strings.ToLower(filepath.Ext(path)); path != "" && ext != ".yaml" && ext != ".yml" && ext != ".json" {
		return func(...string) bool { return true }, nil
	}
	var doc any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	return func(keys ...string) bool {
		v := doc
		for _, k := range keys {
			m, ok := v.(map[any]any) // yaml.v2's mapping type, at every level
			if !ok {
				return false
			}
			if v, ok = m[k]; !ok {
				return false
			}
		}
		return true
	}, nil
}

// Default returns the embedded defaults with the listeners moved to free
// loopback ports, loopback as the advertised relay address and a fixed
// secret: the shape tests and local tools need.
func Default() Config {
	c, err := Load("")
	if err != nil {
		panic(fmt.Sprintf("config: embedded defaults are invalid: %v", err)) // a build defect, caught by tests
	}
	c.Host = "127.0.0.1"
	c.Port = 0
	c.Turn.Listen = "127.0.0.1:0"
	c.Turn.PublicIP = "127.0.0.1"
	c.Turn.RelayIP = "127.0.0.1"
	c.SFU.UDP, c.SFU.TCP, c.SFU.Loopback = "127.0.0.1:0", "127.0.0.1:0", true
	c.Log.Level = "error"
	c.DevServer.Enabled = false // one per process, on a fixed port
	return c
}
