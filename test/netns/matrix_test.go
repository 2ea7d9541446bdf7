package netns

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtcd/rtcd/internal/tlsconf/tlstest"

	"github.com/rtcd/rtcd/internal/testharness"
)

func TestMain(m *testing.M) {
	if os.Getenv("RTCD_NETNS_PEER") == "1" {
		os.Exit(peerMain())
	}
	if addr := os.Getenv("RTCD_NETNS_STUN"); addr != "" {
		os.Exit(stunMain(addr))
	}
	code := m.Run()
	if err := testharness.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// Addresses. Only the namespaces this test creates carry them.
const (
	pubIP    = "203.0.113.1" // the daemon ("public" host)
	pubIP2   = "203.0.113.2" // a second address of the same host, for NAT mapping checks
	pubNet   = "203.0.113.0/24"
	httpPort = "8080"
	turnPort = "3478"
	stunPort = "3479" // the test's own STUN responder on pubIP2
)

// nat describes one router.
type nat struct {
	fullyRandom bool // masquerade fully-random: a new port per destination (symmetric NAT)
	blockUDP    bool // forward no UDP at all
	only443     bool // forward only TCP to port 443 (and replies)
}

func (n nat) ruleset() string {
	masq := "masquerade"
	if n.fullyRandom {
		masq = "masquerade fully-random"
	}
	// Like a home router, drop unsolicited packets to the router itself.
	// Without this, a peer's early connectivity check creates a conntrack
	// entry on the router (and an ICMP error) that then clashes with the
	// outgoing mapping of the hole punch, and masquerade picks a new port.
	fwd := "policy accept;"
	switch {
	case n.blockUDP:
		fwd = "policy accept; meta l4proto udp drop;"
	case n.only443:
		fwd = `policy drop; ct state established,related accept; iifname "lan" tcp dport 443 accept;`
	}
	return fmt.Sprintf(`table ip nat {
	chain post { type nat hook postrouting priority 100; oifname "wan" %s; }
}
table inet filter {
	chain input { type filter hook input priority 0; policy accept; iifname "wan" ct state new drop; }
	chain forward { type filter hook forward priority 0; %s }
}
`, masq, fwd)
}

// matrixCase is one row of the NAT matrix.
type matrixCase struct {
	name       string
	a, b       nat
	tls        bool // daemon on 443 with HTTPS/WSS and TURN over TLS on the same port
	sfu        bool // the room's media goes through the daemon's media server
	check      func(t *testing.T, a, b peerResult)
	skipReason string
}

func TestNATMatrix(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("NAT matrix needs root (network namespaces and nftables); run the tests as root to include it")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("NAT matrix needs %q (apt-get install iproute2 nftables; test/deps.sh does it): %v", tool, err)
		}
	}
	if testing.Short() {
		t.Skip("NAT matrix skipped in -short mode")
	}
	bin := buildDaemon(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cases := []matrixCase{
		{
			name: "a-port-preserving-nat-both",
			check: func(t *testing.T, a, b peerResult) {
				for _, p := range []peerResult{a, b} {
					if len(p.MappedPorts) != 2 || p.MappedPorts[0] != p.MappedPorts[1] || p.MappedPorts[0] != p.LocalPort {
						t.Errorf("%s: want the local port kept to two destinations (port-preserving, endpoint-"+
							"independent mapping), got local %d mapped %v (%s)", p.Name, p.LocalPort, p.MappedPorts, p.NATError)
					}
					if p.Relayed {
						t.Errorf("%s: want a direct path through port-preserving NATs, got %s", p.Name, p.Path)
					}
				}
			},
		},
		{
			name: "b-symmetric-nat-both",
			a:    nat{fullyRandom: true}, b: nat{fullyRandom: true},
			check: func(t *testing.T, a, b peerResult) {
				for _, p := range []peerResult{a, b} {
					if len(p.MappedPorts) != 2 || p.MappedPorts[0] == p.MappedPorts[1] {
						t.Errorf("%s: want a new mapped port per destination (symmetric NAT), got %v (%s)",
							p.Name, p.MappedPorts, p.NATError)
					}
					if !p.Relayed {
						t.Errorf("%s: direct ICE cannot work between two symmetric NATs; want a relayed path, got %s",
							p.Name, p.Path)
					}
				}
			},
		},
		{
			name: "c-udp-blocked-one-side",
			a:    nat{blockUDP: true},
			check: func(t *testing.T, a, b peerResult) {
				if a.NATError == "" {
					t.Errorf("%s: UDP should be blocked, but STUN answered (mapped %v)", a.Name, a.MappedPorts)
				}
				if a.LocalType != "relay" || a.RelayProtocol != "tcp" {
					t.Errorf("%s (UDP blocked): want a relay candidate reached over TCP, got %s (%s, relay protocol %q)",
						a.Name, a.Path, a.LocalType, a.RelayProtocol)
				}
				if !b.Relayed {
					t.Errorf("%s: the other side is only reachable through its relay; got %s", b.Name, b.Path)
				}
			},
		},
		{
			name: "d-only-tcp-443-one-side",
			a:    nat{only443: true},
			tls:  true,
			check: func(t *testing.T, a, b peerResult) {
				if a.NATError == "" {
					t.Errorf("%s: only TCP 443 should pass, but STUN answered (mapped %v)", a.Name, a.MappedPorts)
				}
				if a.LocalType != "relay" || a.RelayProtocol != "tls" {
					t.Errorf("%s (443 only): want a relay candidate reached over TLS on 443, got %s (%s, relay protocol %q)",
						a.Name, a.Path, a.LocalType, a.RelayProtocol)
				}
				if !b.Relayed {
					t.Errorf("%s: the other side is only reachable through its relay; got %s", b.Name, b.Path)
				}
			},
		},
		// The media server's rows: each peer connects to the daemon's SFU
		// (one UDP port, ICE-TCP, or through the relay), not to the other.
		{
			name: "e-sfu-symmetric-nat-both",
			a:    nat{fullyRandom: true}, b: nat{fullyRandom: true},
			sfu: true,
			check: func(t *testing.T, a, b peerResult) {
				for _, p := range []peerResult{a, b} {
					if p.Relayed {
						t.Errorf("%s: the media server has a public address, so even a symmetric NAT reaches it "+
							"directly; got %s", p.Name, p.Path)
					}
				}
			},
		},
		{
			name: "f-sfu-udp-blocked-one-side",
			a:    nat{blockUDP: true},
			sfu:  true,
			check: func(t *testing.T, a, b peerResult) {
				if !strings.HasSuffix(a.Path, "/tcp") {
					t.Errorf("%s (UDP blocked): want the media server reached over TCP (relay or ICE-TCP), got %s (%s)",
						a.Name, a.Path, a.LocalType)
				}
				if b.Relayed {
					t.Errorf("%s: want a direct path to the media server, got %s", b.Name, b.Path)
				}
			},
		},
		{
			name: "g-sfu-only-tcp-443-one-side",
			a:    nat{only443: true},
			tls:  true,
			sfu:  true,
			check: func(t *testing.T, a, b peerResult) {
				if a.LocalType != "relay" || a.RelayProtocol != "tls" {
					t.Errorf("%s (443 only): want the media server reached through the relay over TLS on 443, "+
						"got %s (%s, relay protocol %q)", a.Name, a.Path, a.LocalType, a.RelayProtocol)
				}
				if b.Relayed {
					t.Errorf("%s: want a direct path to the media server, got %s", b.Name, b.Path)
				}
			},
		},
	}
	type row struct {
		name   string
		a, b   peerResult
		status string
	}
	var rows []row
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a, b peerResult
			if tc.skipReason != "" {
				rows = append(rows, row{name: tc.name, status: "skipped: " + tc.skipReason})
				t.Skip(tc.skipReason)
			}
			defer func() {
				status := "ok"
				if t.Failed() {
					status = "FAILED"
				}
				rows = append(rows, row{name: tc.name, a: a, b: b, status: status})
			}()
			a, b = runCase(t, bin, self, i, tc)
			if tc.check != nil && a.Error == "" && b.Error == "" {
				tc.check(t, a, b)
			}
		})
	}
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "\n%-28s | %-40s | %-40s | %s\n", "case", "peer A path (connected in)", "peer B path (connected in)", "result")
	for _, r := range rows {
		if r.a.Name == "" {
			fmt.Fprintf(&tbl, "%-28s | %-40s | %-40s | %s\n", r.name, "-", "-", r.status)
			continue
		}
		cell := func(p peerResult) string {
			return fmt.Sprintf("%s %s>%s (%.0f ms)", p.Path, p.LocalType, p.RemoteType, p.ConnectedMS)
		}
		fmt.Fprintf(&tbl, "%-28s | %-40s | %-40s | %s\n", r.name, cell(r.a), cell(r.b), r.status)
	}
	t.Log(tbl.String())
}

// buildDaemon compiles cmd/rtcd once for the namespaces.
func buildDaemon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rtcd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/rtcd/rtcd/cmd/rtcd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/rtcd: %v\n%s", err, out)
	}
	return bin
}

// topo is one case's namespaces: pub (daemon, bridge), two routers, two LAN hosts.
type topo struct {
	pub, rA, rB, hA, hB string
}

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func nsRun(t *testing.T, ns string, args ...string) {
	t.Helper()
	run(t, append([]string{"ip", "netns", "exec", ns}, args...)...)
}

func nft(t *testing.T, ns, ruleset string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s\n%s", ns, err, out, ruleset)
	}
}

// buildTopo makes fresh namespaces (fresh conntrack) with unique names and
// registers their removal, which runs on failure too.
func buildTopo(t *testing.T, idx int, tc matrixCase) topo {
	t.Helper()
	id := fmt.Sprintf("rtcdnat%d-%d", os.Getpid(), idx)
	tp := topo{pub: id + "-pub", rA: id + "-rA", rB: id + "-rB", hA: id + "-hA", hB: id + "-hB"}
	for _, ns := range []string{tp.pub, tp.rA, tp.rB, tp.hA, tp.hB} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		nsRun(t, ns, "ip", "link", "set", "lo", "up")
	}
	// pub: a bridge that is the "internet" segment, with the daemon's addresses.
	nsRun(t, tp.pub, "ip", "link", "add", "br0", "type", "bridge")
	nsRun(t, tp.pub, "ip", "addr", "add", pubIP+"/24", "dev", "br0")
	nsRun(t, tp.pub, "ip", "addr", "add", pubIP2+"/24", "dev", "br0")
	nsRun(t, tp.pub, "ip", "link", "set", "br0", "up")
	for i, side := range []struct {
		router, host, wanIP, lanNet string
		n                           nat
	}{
		{tp.rA, tp.hA, "203.0.113.10", "10.99.1", tc.a},
		{tp.rB, tp.hB, "203.0.113.20", "10.99.2", tc.b},
	} {
		port := fmt.Sprintf("p%d", i)
		run(t, "ip", "link", "add", "wan", "netns", side.router, "type", "veth", "peer", "name", port, "netns", tp.pub)
		nsRun(t, tp.pub, "ip", "link", "set", port, "master", "br0")
		nsRun(t, tp.pub, "ip", "link", "set", port, "up")
		nsRun(t, side.router, "ip", "addr", "add", side.wanIP+"/24", "dev", "wan")
		nsRun(t, side.router, "ip", "link", "set", "wan", "up")
		run(t, "ip", "link", "add", "lan", "netns", side.router, "type", "veth", "peer", "name", "eth0", "netns", side.host)
		nsRun(t, side.router, "ip", "addr", "add", side.lanNet+".1/24", "dev", "lan")
		nsRun(t, side.router, "ip", "link", "set", "lan", "up")
		nsRun(t, side.host, "ip", "addr", "add", side.lanNet+".2/24", "dev", "eth0")
		nsRun(t, side.host, "ip", "link", "set", "eth0", "up")
		nsRun(t, side.host, "ip", "route", "add", "default", "via", side.lanNet+".1")
		nsRun(t, side.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		nft(t, side.router, side.n.ruleset())
	}
	return tp
}

// tlsName is the deployment's DNS name in the TLS case; the LAN hosts
// resolve it through /etc/netns/<ns>/hosts, which `ip netns exec` mounts
// over /etc/hosts.
const tlsName = "rtcd.test"

func daemonConfig(port, certFile, keyFile string, sfu bool) string {
	cfg := `Name: rtcd
Host: 0.0.0.0
Port: ` + port + `
Log:
  Mode: console
  Encoding: plain
  Level: error
Auth:
  Secrets: ["netns-matrix-secret-not-for-production"]
  TTL: 1h
Turn:
  Listen: 0.0.0.0:` + turnPort + `
  PublicIP: ` + pubIP + `
  AllowPeers: ["` + pubNet + `", "198.51.100.0/24"]
`
	if certFile != "" {
		cfg += `  OnePort: true
  PublicHost: ` + tlsName + `
TLS:
  CertFile: ` + certFile + `
  KeyFile: ` + keyFile + `
`
	}
	cfg += `Signal:
  Mode: open
`
	if sfu {
		cfg += `  Media: sfu
SFU:
  UDP: 0.0.0.0:7882
  TCP: 0.0.0.0:7882
`
	}
	return cfg
}

// proc is a process started inside a namespace; the test kills it by PID.
type proc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr testharness.LockedBuffer
	done   chan struct{}
}

func start(t *testing.T, ns string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	// ip netns exec execs the program, so the PID is the program's own.
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", args, ns, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// runCase builds the topology, starts the daemon and both peers, and
// returns what each peer reported.
func runCase(t *testing.T, bin, self string, idx int, tc matrixCase) (peerResult, peerResult) {
	tp := buildTopo(t, idx, tc)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rtcd.yaml")
	url, port, certFile, keyFile := "http://"+pubIP+":"+httpPort, httpPort, "", ""
	var extraEnv []string
	if tc.tls {
		ca := tlstest.NewCA(t)
		certFile, keyFile = ca.Issue(t, "rtcd", time.Hour, tlsName).Write(t, dir)
		caFile := filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		// Go (the WebSocket) and pion (TURN over TLS) both trust the system
		// roots, which SSL_CERT_FILE replaces.
		extraEnv = append(extraEnv, "SSL_CERT_FILE="+caFile)
		url, port = "https://"+tlsName, "443"
		if _, err := os.Stat("/etc/netns"); os.IsNotExist(err) {
			t.Cleanup(func() { _ = os.Remove("/etc/netns") }) // only if empty again
		}
		for _, ns := range []string{tp.hA, tp.hB} {
			hostsDir := filepath.Join("/etc/netns", ns)
			if err := os.MkdirAll(hostsDir, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.RemoveAll(hostsDir) })
			hosts := "127.0.0.1 localhost\n" + pubIP + " " + tlsName + "\n"
			if err := os.WriteFile(filepath.Join(hostsDir, "hosts"), []byte(hosts), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(cfg, []byte(daemonConfig(port, certFile, keyFile, tc.sfu)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := start(t, tp.pub, nil, bin, "-f", cfg)
	start(t, tp.pub, []string{"RTCD_NETNS_STUN=" + pubIP2 + ":" + stunPort}, self, "-test.run=^$")
	room := fmt.Sprintf("matrix-%d", idx)
	peerEnv := func(name string) []string {
		env := append([]string{
			"RTCD_NETNS_PEER=1", "RTCD_NAME=" + name, "RTCD_ROOM=" + room,
			"RTCD_URL=" + url,
			"RTCD_STUN=" + pubIP + ":" + turnPort + "," + pubIP2 + ":" + stunPort,
			"RTCD_TIMEOUT_S=40",
		}, extraEnv...)
		if tc.sfu {
			env = append(env, "RTCD_SFU=1")
		}
		return env
	}
	began := time.Now()
	pa := start(t, tp.hA, peerEnv("A"), self, "-test.run=^$")
	pb := start(t, tp.hB, peerEnv("B"), self, "-test.run=^$")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var res [2]peerResult
	for i, p := range []*proc{pa, pb} {
		select {
		case <-p.done:
		case <-d.done:
			t.Fatalf("daemon exited: %s", d.stderr.String())
		case <-ctx.Done():
			// A Go process dumps its goroutines on SIGQUIT: show where it hangs.
			for _, q := range []*proc{pa, pb} {
				_ = q.cmd.Process.Signal(syscall.SIGQUIT)
			}
			time.Sleep(time.Second)
			t.Fatalf("peer %d did not finish\npeer A stderr:\n%s\npeer B stderr:\n%s\ndaemon stderr:\n%s",
				i, pa.stderr.String(), pb.stderr.String(), d.stderr.String())
		}
		res[i] = lastJSON(t, p)
	}
	for i, r := range res {
		if r.Error != "" {
			t.Errorf("peer %s: call failed: %s\nstderr:\n%s", r.Name, r.Error, []*proc{pa, pb}[i].stderr.String())
			continue
		}
		t.Logf("peer %s: path %s (%s %s -> %s %s, relay protocol %q); connected %.0f ms after join "+
			"(PeerConnection %.0f ms); data %d/%d sha256-verified, data RTT %.2f ms, ICE RTT %.2f ms; "+
			"RTP %d packets, %d lost; NAT local port %d mapped %v",
			r.Name, r.Path, r.LocalType, r.LocalAddr, r.RemoteType, r.RemoteAddr, r.RelayProtocol, r.ConnectedMS,
			r.PCConnectedMS, r.Received, r.Sent, r.DataRTTMS, r.ICERTTMS, r.RTPPackets, r.RTPLost, r.LocalPort, r.MappedPorts)
		if (!tc.sfu && r.Received != peerMessages) || r.RTPPackets < peerMinRTP {
			t.Errorf("peer %s: received %d messages and %d RTP packets", r.Name, r.Received, r.RTPPackets)
		}
	}
	if os.Getenv("RTCD_NETNS_DEBUG") == "1" {
		t.Logf("peer A stderr:\n%s\npeer B stderr:\n%s\ndaemon stderr:\n%s", pa.stderr.String(), pb.stderr.String(), d.stderr.String())
	}
	t.Logf("case took %s", time.Since(began).Round(time.Millisecond))
	return res[0], res[1]
}

func lastJSON(t *testing.T, p *proc) peerResult {
	t.Helper()
	var res peerResult
	sc := bufio.NewScanner(bytes.NewReader(p.stdout.Bytes()))
	found := false
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > 0 && line[0] == '{' {
			if err := json.Unmarshal(line, &res); err == nil {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("peer printed no result; stdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
	}
	return res
}
