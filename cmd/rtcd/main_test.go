package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtcd/rtcd/auth"
	"github.com/rtcd/rtcd/internal/testharness"
	"github.com/rtcd/rtcd/signal/proto"
)

// rtcdBin is the binary under test, built once by TestMain, so that these
// tests see exactly what an operator runs: flags, exit codes, signals.
var rtcdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rtcd-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rtcdBin = filepath.Join(dir, "rtcd")
	out, err := exec.Command("go", "build", "-o", rtcdBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build rtcd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	if err := testharness.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// freePort returns a loopback port that was free a moment ago, for configs
// that must name a fixed port (the daemon also accepts 0, but then the test
// could not know where to connect without parsing logs).
func freePort(t *testing.T, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

// writeConfig writes a loopback config with the given extra YAML appended
// to the Turn section.
func writeConfig(t *testing.T, httpPort, turnPort int, turnExtra string) string {
	t.Helper()
	if !strings.Contains(turnExtra, "MinPort") {
		// Keep the relay range clear of the ephemeral ports the listeners get.
		turnExtra = "  MinPort: 21000\n  MaxPort: 21999\n" + turnExtra
	}
	cfg := fmt.Sprintf(`Name: rtcd-test
Host: 127.0.0.1
Port: %d
Log:
  Encoding: plain
  Level: info
  Stat: false
Auth:
  Secrets: ["${RTCD_TURN_SECRET}"]
Turn:
  Listen: 127.0.0.1:%d
  PublicIP: 127.0.0.1
%s`, httpPort, turnPort, turnExtra)
	p := filepath.Join(t.TempDir(), "rtcd.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runRTCD(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(rtcdBin, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestConfigErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, extra, want string
	}{
		{"bad CIDR", "  AllowPeers: [10.0.0.0/33]\n", "AllowPeers"},
		{"bad deny CIDR", "  DenyPeers: [nonsense]\n", "DenyPeers"},
		{"port range reversed", "  MinPort: 50000\n  MaxPort: 49999\n", "MinPort"},
		{"bad relay IP", "  RelayIP: not-an-ip\n", "RelayIP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, 0, 0, tc.extra)
			for _, sub := range [][]string{{"check-config", "-f", p}, {"-f", p}} {
				out, code := runRTCD(t, sub...)
				if code == 0 {
					t.Fatalf("%v: exit 0, want failure; output:\n%s", sub, out)
				}
				if !strings.Contains(out, tc.want) {
					t.Fatalf("%v: error does not name %s:\n%s", sub, tc.want, out)
				}
			}
		})
	}
}

func TestMissingConfigFileIsNamed(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	out, code := runRTCD(t, "-f", missing)
	if code == 0 || !strings.Contains(out, "nope.yaml") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestCheckConfigAcceptsDefaults(t *testing.T) {
	out, code := runRTCD(t, "check-config", "-f", filepath.Join("..", "..", "etc", "rtcd.yaml"))
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestUnknownCommandAndFlag(t *testing.T) {
	if _, code := runRTCD(t, "frobnicate"); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
	if _, code := runRTCD(t, "--no-such-flag"); code != 2 {
		t.Fatalf("unknown flag: exit %d, want 2", code)
	}
}

func TestVersion(t *testing.T) {
	out, code := runRTCD(t, "version")
	if code != 0 || !strings.HasPrefix(out, "rtcd ") || !strings.Contains(out, "go") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestTokenNeedsSecretAndFields(t *testing.T) {
	p := writeConfig(t, 0, 0, "")
	if out, code := runRTCD(t, "token", "-f", p, "--room", "r"); code != 2 {
		t.Fatalf("missing --user: exit %d\n%s", code, out)
	}
	cmd := exec.Command(rtcdBin, "token", "-f", p, "--room", "r", "--user", "u")
	cmd.Env = append(os.Environ(), "RTCD_TOKEN_SECRET=")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "TokenSecret") {
		t.Fatalf("no secret: err %v\n%s", err, out)
	}
	cmd = exec.Command(rtcdBin, "token", "--room", "r", "--user", "u", "--ttl", "5m")
	cmd.Dir = t.TempDir() // embedded defaults, secret from the environment
	cmd.Env = append(os.Environ(), "RTCD_TOKEN_SECRET=0123456789abcdef0123")
	out, err := cmd.Output()
	if err != nil || strings.Count(strings.TrimSpace(string(out)), ".") != 2 {
		t.Fatalf("token: err %v out %q", err, out)
	}
	if out, code := runRTCD(t, "token", "-f", p, "--room", "r", "--user", "u", "--host", "--role", "guest"); code != 2 {
		t.Fatalf("--host with another role: exit %d\n%s", code, out)
	}
}

// TestHostToken: --host mints a token whose role makes its holder a host.
func TestHostToken(t *testing.T) {
	const secret = "0123456789abcdef0123"
	for _, tt := range []struct {
		args []string
		role string
	}{{[]string{"--host"}, proto.RoleHost}, {nil, ""}} {
		cmd := exec.Command(rtcdBin, append([]string{"token", "--room", "r", "--user", "u"}, tt.args...)...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "RTCD_TOKEN_SECRET="+secret)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("token %v: %v", tt.args, err)
		}
		tokens, err := auth.NewTokens(secret)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tokens.Verify(strings.TrimSpace(string(out)))
		if err != nil || c.Role != tt.role || c.Room != "r" || c.User != "u" {
			t.Fatalf("token %v: claims %+v, err %v; want role %q", tt.args, c, err, tt.role)
		}
	}
}

func TestPortInUseFailsBeforeListening(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	httpPort := busy.Addr().(*net.TCPAddr).Port
	turnPort := freePort(t, "udp")
	out, code := runRTCD(t, "-f", writeConfig(t, httpPort, turnPort, ""))
	if code == 0 || !strings.Contains(out, "Port") || !strings.Contains(out, fmt.Sprint(httpPort)) {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}

	busyUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyUDP.Close()
	turnPort = busyUDP.LocalAddr().(*net.UDPAddr).Port
	httpPort = freePort(t, "tcp")
	out, code = runRTCD(t, "-f", writeConfig(t, httpPort, turnPort, ""))
	if code == 0 || !strings.Contains(out, "Turn.Listen") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	// The HTTP port was released again: nothing listens after a failed start.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), time.Second); err == nil {
		c.Close()
		t.Fatalf("port %d still accepts after the failed start", httpPort)
	}
}

// TestSignalsStopCleanly runs the daemon, waits until it serves, sends
// SIGTERM or SIGINT and expects a clean exit inside go-zero's 5.5 s window.
func TestSignalsStopCleanly(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			httpPort, turnPort := freePort(t, "tcp"), freePort(t, "udp")
			cmd := exec.Command(rtcdBin, "-f", writeConfig(t, httpPort, turnPort, ""))
			cmd.Env = append(os.Environ(), "RTCD_TURN_SECRET="+testSecret)
			var logs bytes.Buffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var waitErr error
			done := make(chan struct{})
			go func() { waitErr = cmd.Wait(); close(done) }()
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-done
			})
			url := fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort)
			deadline := time.Now().Add(10 * time.Second)
			for {
				resp, err := http.Get(url)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("daemon did not serve %s; logs:\n%s", url, logs.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			start := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
				if waitErr != nil {
					t.Fatalf("exit after %v: %v; logs:\n%s", sig, waitErr, logs.String())
				}
				t.Logf("%v: stopped in %v", sig, time.Since(start).Round(time.Millisecond))
			case <-time.After(8 * time.Second):
				t.Fatalf("still running 8 s after %v; logs:\n%s", sig, logs.String())
			}
			if !strings.Contains(logs.String(), "clients are given") {
				t.Fatalf("start-up block missing from logs:\n%s", logs.String())
			}
			assertNoSecretInLogs(t, logs.String())
		})
	}
}

// testSecret is a recognisable TURN secret that must never appear in logs.
const testSecret = "s3cret-that-must-not-be-logged"

// assertNoSecretInLogs checks the logs never print the configured secret.
func assertNoSecretInLogs(t *testing.T, logs string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		if strings.Contains(sc.Text(), testSecret) {
			t.Fatalf("log line reveals the TURN secret: %s", sc.Text())
		}
	}
}

// TestTURNOnlyNeedsSecret: `rtcd turn` without a TURN secret refuses to
// start and names the field (a generated secret would match no platform).
func TestTURNOnlyNeedsSecret(t *testing.T) {
	t.Setenv("RTCD_TURN_SECRET", "")
	out, code := runRTCD(t, "turn", "-f", writeConfig(t, 0, 0, ""))
	if code == 0 || !strings.Contains(out, "Auth.Secrets") || !strings.Contains(out, "TURN-only") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

// TestImportCoturn: the YAML goes to stdout without the secret, the notes
// name file and line, and a missing argument is a usage error.
func TestImportCoturn(t *testing.T) {
	p := filepath.Join(t.TempDir(), "turnserver.conf")
	conf := "# a coturn config\nlistening-port=3479\nuse-auth-secret\nstatic-auth-secret=s3cr3t-value\nrealm=example.org\nsyslog\n"
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runRTCD(t, "import-coturn", p)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"Listen: 0.0.0.0:3479", "Realm: example.org", "Disabled: true", p + ":6: syslog:", "set RTCD_TURN_SECRET"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t-value") {
		t.Fatalf("the secret was printed:\n%s", out)
	}
	if _, code := runRTCD(t, "import-coturn"); code != 2 {
		t.Fatalf("no file: exit %d, want 2", code)
	}
}
