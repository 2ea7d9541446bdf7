package coturnconf

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rtcd/rtcd/internal/config"
)

// debianConf is the example configuration the Debian coturn package ships
// (test/deps.sh installs coturn).
const debianConf = "/etc/turnserver.conf"

func readDebian(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(debianConf)
	if err != nil {
		t.Skipf("%s not readable (apt-get install -y coturn ships it): %v", debianConf, err)
	}
	return string(b)
}

// load checks that yaml is a configuration rtcd accepts, with the secret
// in the environment as the import asks.
func load(t *testing.T, yaml string) config.Config {
	t.Helper()
	t.Setenv("RTCD_TURN_SECRET", "north")
	p := filepath.Join(t.TempDir(), "rtcd.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(p)
	if err != nil {
		t.Fatalf("imported YAML does not load: %v\n%s", err, yaml)
	}
	return c
}

// TestDebianConfigAsShipped: every active line of the shipped file gets a
// note, and the result is a TURN-only configuration rtcd starts with.
func TestDebianConfigAsShipped(t *testing.T) {
	text := readDebian(t)
	res, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	noted := map[int]bool{}
	for _, n := range res.Notes {
		noted[n.Line] = true
	}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		active++
		if !noted[i+1] {
			t.Errorf("line %d %q: neither carried over nor noted", i+1, line)
		}
	}
	if active == 0 {
		t.Fatal("no active line in the shipped file: the test would prove nothing")
	}
	c := load(t, res.YAML)
	if !c.Signal.Disabled || c.Turn.Listen != "0.0.0.0:3478" {
		t.Fatalf("not TURN-only on 3478: %+v", c.Turn)
	}
	for _, n := range res.Notes {
		t.Log(n)
	}
}

// TestDebianConfigUncommented: the shipped file with its examples for the
// options rtcd carries over switched on translates to the same settings.
func TestDebianConfigUncommented(t *testing.T) {
	text := readDebian(t)
	on := func(option string) {
		re := regexp.MustCompile(`(?m)^#(` + regexp.QuoteMeta(option) + `(=.*)?)$`)
		loc := re.FindStringSubmatchIndex(text)
		if loc == nil {
			t.Fatalf("no commented %s in %s", option, debianConf)
		}
		text = text[:loc[0]] + text[loc[2]:loc[3]] + text[loc[1]:]
	}
	for _, o := range []string{"listening-port", "tls-listening-port", "listening-ip", "min-port", "max-port",
		"use-auth-secret", "static-auth-secret", "realm", "cert", "pkey", "user=username1:key1", "no-multicast-peers"} {
		on(o)
	}
	on("external-ip=60.70.80.91/172.17.19.101")
	text += "\nuser-quota=12\ntotal-quota=1200\ndenied-peer-ip=83.166.64.0-83.166.95.255\nallowed-peer-ip=83.166.68.45\nmax-bps=100000\nbogus-option\n"
	res, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Listen: 172.17.19.101:3478", "Realm: mycompany.org", "PublicIP: 60.70.80.91", "RelayIP: 172.17.19.101",
		"MinPort: 49152", "MaxPort: 65535", "MaxAllocationsPerUser: 12", "MaxAllocations: 1200",
		"TLSListen: 172.17.19.101:5349", "CertFile: /usr/local/etc/turn_server_cert.pem", "KeyFile: /usr/local/etc/turn_server_pkey.pem",
		`AllowPeers: ["83.166.68.45/32"]`, `Secrets: ["${RTCD_TURN_SECRET}"]`, "Disabled: true",
	} {
		if !strings.Contains(res.YAML, want) {
			t.Errorf("YAML lacks %q:\n%s", want, res.YAML)
		}
	}
	if strings.Contains(res.YAML, "north") || len(res.Secrets) != 1 || res.Secrets[0] != "north" {
		t.Fatalf("secret handling: YAML must not hold it, Secrets %q", res.Secrets)
	}
	// The allowed address is cut out of the denied range (in rtcd deny wins).
	m := regexp.MustCompile(`DenyPeers: \[(.*)\]`).FindStringSubmatch(res.YAML)
	if m == nil || strings.Contains(m[1], `"83.166.68.45/32"`) || !strings.Contains(m[1], `"83.166.64.0/22"`) || !strings.Contains(m[1], `"83.166.68.46/31"`) {
		t.Fatalf("DenyPeers %v", m)
	}
	for _, opt := range []string{"user", "max-bps", "bogus-option", "allowed-peer-ip", "no-multicast-peers", "syslog"} {
		found := false
		for _, n := range res.Notes {
			found = found || n.Option == opt
		}
		if !found {
			t.Errorf("no note for %s", opt)
		}
	}
	// Without the TLS lines (their files do not exist here) rtcd accepts it.
	noTLS := regexp.MustCompile(`(?m)^(  TLSListen:.*|TLS:|  CertFile:.*|  KeyFile:.*)\n`).ReplaceAllString(res.YAML, "")
	c := load(t, noTLS)
	if c.Turn.PublicIP != "60.70.80.91" || c.Turn.MaxAllocationsPerUser != 12 || len(c.Turn.DenyPeers) == 0 || c.TURNSecrets()[0] != "north" {
		t.Fatalf("loaded %+v", c.Turn)
	}
}

func TestRanges(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0-10.255.255.255":   "10.0.0.0/8",
		"172.16.0.0-172.31.255.255": "172.16.0.0/12",
		"192.168.1.5":               "192.168.1.5/32",
		"1.2.3.4-1.2.3.9":           "1.2.3.4/30 1.2.3.8/31",
		"10.1.2.3/16":               "10.1.0.0/16",
		"fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "fc00::/7",
		"0.0.0.0-255.255.255.255":                        "0.0.0.0/0",
	} {
		r, err := parseRange(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := strings.Join(r.cidrs(), " "); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "10.0.0.9-10.0.0.1", "10.0.0.1-::1", "example.org", "10.0.0.0/33"} {
		if _, err := parseRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
