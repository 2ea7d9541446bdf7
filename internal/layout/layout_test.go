package layout

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/rtcd/rtcd/"

// mayImport lists, for every non-test package, the rtcd packages its
// non-test files may import. A package missing here fails the test: say
// where it sits before it is used.
var mayImport = map[string][]string{
	// The protocol and the small leaves: nothing of rtcd.
	"signal/proto":        nil,
	"etc":                 nil,
	"internal/callback":   nil,
	"internal/defaults":   nil,
	"internal/tlsconf":    nil,
	"internal/portmux":    nil,
	"internal/coturnconf": nil,
	// Webhooks: the daemon hands it the hub's events as data.
	"internal/webhook": {"internal/defaults"},
	// Services: the credentials below them, never each other (signal gets
	// the relay's URLs as data), never the daemon or the config.
	"auth":            {"internal/defaults"},
	"turn":            {"auth", "internal/callback", "internal/defaults"},
	"signal":          {"auth", "signal/proto", "internal/defaults"},
	"signal/redisbus": {"signal", "signal/proto", "internal/defaults"},
	"web":             {"signal/proto"},
	// Clients of the daemon: the protocol, never a service.
	"client":          {"signal/proto", "internal/callback"},
	"internal/probe":  {"client", "signal/proto", "internal/callback"},
	"internal/bench":  {"signal/proto", "internal/callback"},
	"test/e2e/gopeer": {"client", "signal/proto"},
	// The media server: the protocol's signal kinds, callback gates.
	"internal/sfu": {"signal/proto", "internal/callback", "internal/defaults"},
	// Assembly: config composes the sections, daemon wires the services,
	// cmd/rtcd is the binary.
	"internal/metrics": {"signal", "turn", "internal/sfu", "internal/webhook"},
	"internal/config": {"auth", "etc", "signal", "signal/redisbus", "turn", "internal/sfu", "internal/tlsconf",
		"internal/webhook"},
	"internal/daemon": {"auth", "signal", "signal/redisbus", "turn", "web", "internal/config", "internal/metrics",
		"internal/portmux", "internal/sfu", "internal/tlsconf", "internal/webhook"},
	"cmd/rtcd": {"auth", "internal/bench", "internal/config", "internal/coturnconf", "internal/daemon", "internal/probe",
		"signal/proto"},
	// Test support.
	"internal/testharness":            nil,
	"internal/testharness/daemontest": {"internal/config", "internal/daemon", "internal/tlsconf/tlstest"},
	"internal/tlsconf/tlstest":        nil,
	"internal/turntest":               nil,
	"internal/redistest":              nil,
	"internal/layout":                 nil,
	"deploy":                          nil,
	"signal/clustertest":              nil,
	"test/netns":                      nil,
}

type pkg struct {
	ImportPath string
	Imports    []string
	GoFiles    []string
}

func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", module+"...")
	cmd.Dir = "../.."
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("go list: %v", err)
	}
	dec := json.NewDecoder(out)
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, module)
		allowed, known := mayImport[name]
		if !known {
			t.Errorf("package %s is not in the import map (internal/layout, CONTRIBUTING.md)", name)
			continue
		}
		seen++
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			if ours && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s, which the map does not allow", name, dep)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if seen < 20 {
		t.Fatalf("only %d packages listed", seen)
	}
}
