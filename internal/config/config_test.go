package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rtcd/rtcd/turn"
)

// TestDefaultsAgree: etc/rtcd.yaml spells out the defaults, and a file that
// sets nothing but the required keys loads as exactly the same Config, so
// the values in etc/rtcd.yaml are the ones the code applies, field by field
// (the sections' WithDefaults and withDefaults here are the only place they
// are defined).
func TestDefaultsAgree(t *testing.T) {
	embedded, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	bare := loadBare(t)
	// ${RTCD_TURN_SECRET} and ${RTCD_TOKEN_SECRET} expand to empty strings,
	// which mean the same as no key.
	embedded.Auth.Secrets = nil
	for _, d := range diff("", reflect.ValueOf(embedded), reflect.ValueOf(bare)) {
		t.Errorf("etc/rtcd.yaml and the code defaults differ at %s", d)
	}
	if err := bare.Validate(); err != nil {
		t.Errorf("a file with only Name and Port: %v", err)
	}
	if bare.DevServer.Host != "127.0.0.1" || bare.Timeout != 10000 || bare.Log.Encoding != "plain" {
		t.Errorf("go-zero keys: DevServer.Host %q, Timeout %d, Log.Encoding %q", bare.DevServer.Host, bare.Timeout, bare.Log.Encoding)
	}
	for _, name := range []string{"MinPort", "MaxAllocationsPerAddress", "BindingBurst"} {
		if reflect.ValueOf(bare.Turn).FieldByName(name).Int() == 0 {
			t.Errorf("Turn.%s is 0 after Load", name)
		}
	}
}

// TestFileOverridesDefaults: what a file sets wins over every default,
// go-zero's keys included.
func TestFileOverridesDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rtcd.yaml")
	text := "Name: rtcd\nPort: 8080\nTimeout: 3000\nLog:\n  Encoding: json\n  Stat: true\nDevServer:\n  Enabled: false\n" +
		"Signal:\n  RoomSize: 9\nTurn:\n  MinPort: 50000\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 3000 || c.Log.Encoding != "json" || !c.Log.Stat || c.DevServer.Enabled ||
		c.Signal.RoomSize != 9 || c.Turn.MinPort != 50000 || c.Turn.MaxPort != turn.DefaultMaxPort {
		t.Errorf("loaded %+v", c)
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

// TestTurnFastPathValues: Turn.FastPath takes auto, off or on, defaults
// to auto, and anything else is an error naming the field.
func TestTurnFastPathValues(t *testing.T) {
	if got := Default().Turn.WithDefaults().FastPath; got != turn.FastPathAuto {
		t.Errorf("default %q, want auto", got)
	}
	for _, v := range []string{"auto", "off", "on"} {
		c := Default()
		c.Turn.FastPath = v
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
	c := Default()
	c.Turn.FastPath = "xdp"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "Turn.FastPath") {
		t.Errorf("xdp: error %v, want one naming Turn.FastPath", err)
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

// diff lists the fields where a and b differ, as "path: a vs b".
func diff(path string, a, b reflect.Value) []string {
	if a.Kind() == reflect.Struct {
		var out []string
		for i := 0; i < a.NumField(); i++ {
			out = append(out, diff(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))...)
		}
		return out
	}
	if reflect.DeepEqual(a.Interface(), b.Interface()) || a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0 {
		return nil // [] in a file and no key are the same
	}
	return []string{fmt.Sprintf("%s: %#v vs %#v", strings.TrimPrefix(path, "."), a.Interface(), b.Interface())}
}

// TestREADMEDefaults: the defaults in README.md's configuration table are
// the ones Load applies. Rows whose default is not a literal (detected,
// ${ENV}, off) are skipped.
func TestREADMEDefaults(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	c := loadBare(t)
	row := regexp.MustCompile("^\\| (`[A-Za-z.]+`(?:, `?[A-Za-z.]+`?)*) \\| (`[^|]*`) \\|")
	checked := 0
	for _, line := range strings.Split(string(readme), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		keys := strings.Split(strings.ReplaceAll(m[1], "`", ""), ", ")
		vals := strings.Split(m[2], ", ")
		if len(keys) != len(vals) {
			t.Errorf("README row %q: %d keys, %d defaults", m[1], len(keys), len(vals))
			continue
		}
		prefix := ""
		for i, key := range keys {
			if strings.HasPrefix(key, ".") {
				key = prefix + key
			} else if j := strings.LastIndex(key, "."); j > 0 {
				prefix = key[:j]
			}
			want := strings.Trim(vals[i], "`")
			if strings.Contains(want, "${") {
				continue
			}
			v := reflect.ValueOf(c)
			for _, f := range strings.Split(key, ".") {
				v = v.FieldByName(f)
			}
			if !v.IsValid() {
				t.Errorf("README names %s, which Config does not have", key)
				continue
			}
			checked++
			if got := render(v); got != want {
				t.Errorf("README says %s defaults to %s; Load gives %s", key, want, got)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d README defaults checked", checked)
	}
}

// render writes a config value the way README.md does.
func render(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		s := x.String()
		for _, z := range []string{"0s", "0m"} {
			if strings.HasSuffix(s, z) && len(s) > len(z) {
				s = strings.TrimSuffix(s, z)
			}
		}
		return s
	case []string:
		return "[" + strings.Join(x, ",") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// loadBare loads a file that sets only the keys go-zero requires.
func loadBare(t *testing.T) Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bare.yaml")
	if err := os.WriteFile(path, []byte("Name: rtcd\nPort: 8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAdminSection: a short admin token and an admin API without signaling
// are refused, naming Admin.Token; the embedded default is off.
func TestAdminSection(t *testing.T) {
	if c := Default(); c.Admin.Enabled() {
		t.Fatal("the admin API is on by default")
	}
	c := Default()
	c.Admin.Token = "short"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "Admin.Token") {
		t.Errorf("short token: %v", err)
	}
	c.Admin.Token = "a-long-enough-admin-token"
	c.Signal.Disabled = true
	c.Auth.Secrets = []string{"turn-secret"}
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "Admin.Token") {
		t.Errorf("TURN-only with an admin token: %v", err)
	}
	t.Setenv("RTCD_ADMIN_TOKEN", "from-the-environment-0123")
	l, err := Load("")
	if err != nil || l.Admin.Token != "from-the-environment-0123" {
		t.Errorf("Admin.Token from ${RTCD_ADMIN_TOKEN}: %q, %v", l.Admin.Token, err)
	}
}

// TestTurnFastPathBareOff: a bare `FastPath: off` (a boolean to YAML 1.1)
// fails with an error that says to quote it; quoted, it loads.
func TestTurnFastPathBareOff(t *testing.T) {
	dir := t.TempDir()
	load := func(v string) (Config, error) {
		path := filepath.Join(dir, "fp.yaml")
		if err := os.WriteFile(path, []byte("Name: rtcd\nPort: 8080\nTurn:\n  FastPath: "+v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path)
	}
	if _, err := load("off"); err == nil || !strings.Contains(err.Error(), `Turn.FastPath: quote the value`) {
		t.Errorf("bare off: %v, want the quoting hint", err)
	}
	c, err := load(`"off"`)
	if err != nil || c.Turn.FastPath != "off" {
		t.Errorf(`"off": %q, %v`, c.Turn.FastPath, err)
	}
}
