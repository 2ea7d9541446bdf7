package deploy_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rtcd/rtcd/internal/config"
	"gopkg.in/yaml.v2"
)

// TestUnitVerifies runs verify.sh: systemd-analyze verify with no findings
// about the unit, and the sandbox exposure at most 2.5.
func TestUnitVerifies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "./verify.sh").CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 77 {
		t.Skipf("verify.sh skipped: %s", out)
	}
	if err != nil {
		t.Fatalf("verify.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestSmoke installs and runs the daemon the way docs/deploy.md and the
// unit do, in private network and mount namespaces (smoke.sh). Root only.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "./smoke.sh").CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 77 {
		t.Skipf("smoke.sh skipped: %s", out)
	}
	if err != nil {
		t.Fatalf("smoke.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestExampleConfig loads rtcd.yaml.example with the daemon's loader and
// checks that every key in it is one the Config has (go-zero ignores
// unknown keys silently, so a typo would otherwise go unnoticed).
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("rtcd.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rtcd.yaml") // go-zero picks the parser by extension
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RTCD_TURN_SECRET", "example-turn-secret-0123456789abcdef")
	t.Setenv("RTCD_TOKEN_SECRET", "example-token-secret-0123456789abcdef")
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load(rtcd.yaml.example): %v", err)
	}
	if c.Port != 443 || c.Turn.PublicIP != "203.0.113.10" || c.DevServer.Host != "127.0.0.1" {
		t.Errorf("example not loaded as written: Port %d, Turn.PublicIP %q, DevServer.Host %q",
			c.Port, c.Turn.PublicIP, c.DevServer.Host)
	}

	checkKeys(t, "rtcd.yaml.example", data)
}

// TestTURNOnlyExampleConfig: turn-only.yaml.example loads as TURN-only
// mode with TURN over TLS, and has no key the Config does not know.
func TestTURNOnlyExampleConfig(t *testing.T) {
	data, err := os.ReadFile("turn-only.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	// The certificate files do not exist here: check everything else.
	delete(doc, "TLS")
	turn := doc["Turn"].(map[any]any)
	delete(turn, "TLSListen")
	plain, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rtcd.yaml")
	if err := os.WriteFile(path, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RTCD_TURN_SECRET", "example-turn-secret-0123456789abcdef")
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load(turn-only.yaml.example): %v", err)
	}
	if !c.Signal.Disabled || c.Turn.PublicIP != "203.0.113.10" || c.Host != "127.0.0.1" {
		t.Errorf("example not loaded as written: Signal.Disabled %v, Turn.PublicIP %q, Host %q", c.Signal.Disabled, c.Turn.PublicIP, c.Host)
	}
	checkKeys(t, "turn-only.yaml.example", data)
}

// checkKeys fails t for every key of the YAML document data that the
// Config does not have.
func checkKeys(t *testing.T, name string, data []byte) {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if unknown := unknownKeys(doc, reflect.TypeOf(config.Config{}), ""); len(unknown) > 0 {
		t.Errorf("%s has keys the Config does not know: %s", name, strings.Join(unknown, ", "))
	}
}

// unknownKeys returns the dotted keys of m that have no field in struct
// type typ, matching names case-insensitively as go-zero does.
func unknownKeys(m map[string]any, typ reflect.Type, prefix string) []string {
	fields := map[string]reflect.Type{}
	collectFields(typ, fields)
	var out []string
	for k, v := range m {
		ft, ok := fields[strings.ToLower(k)]
		if !ok {
			out = append(out, prefix+k)
			continue
		}
		if sub, ok := asMap(v); ok && ft.Kind() == reflect.Struct {
			out = append(out, unknownKeys(sub, ft, prefix+k+".")...)
		}
	}
	sort.Strings(out)
	return out
}

func collectFields(typ reflect.Type, into map[string]reflect.Type) {
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name := f.Name
		if tag := strings.Split(f.Tag.Get("json"), ",")[0]; tag != "" {
			name = tag
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			collectFields(f.Type, into)
			continue
		}
		into[strings.ToLower(name)] = f.Type
	}
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, false
			}
			out[ks] = v
		}
		return out, true
	}
	return nil, false
}
