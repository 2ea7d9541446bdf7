// Command rtcd is the rtcd daemon and its tools: one binary that runs the
// STUN/TURN relay and the signaling/web server side by side, mints join
// tokens, checks configurations and probes deployments.
//
//	rtcd [-f etc/rtcd.yaml]            run the daemon
//	rtcd check-config -f FILE          validate a configuration and exit
//	rtcd token --room R --user U       mint a join token (Signal.Mode=token; --host for a host token)
//	rtcd bench MODE [flags]            load-test a TURN server, the hub or the SFU
//	rtcd probe URL [--json] [--trace]  check a deployment end to end
//	rtcd version                       print build information
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/service"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/daemon"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// defaultConfigPath is used when it exists; otherwise the embedded copy of
// etc/rtcd.yaml is, so a bare `go run ./cmd/rtcd` works from anywhere.
const defaultConfigPath = "etc/rtcd.yaml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches the subcommands and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "", "serve":
		err = serve(args, stderr, false)
	case "turn":
		err = serve(args, stderr, true)
	case "import-coturn":
		err = importCoturn(args, stdout, stderr)
	case "check-config":
		err = checkConfig(args, stdout, stderr)
	case "token":
		err = token(args, stdout, stderr)
	case "bench":
		err = runBench(args, stdout)
	case "probe":
		return runProbe(args, stdout, stderr)
	case "version":
		printVersion(stdout)
	case "help":
		usage(stdout)
	default:
		_, _ = fmt.Fprintf(stderr, "rtcd: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "rtcd: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	_, _ = fmt.Fprint(w, `usage:
  rtcd [-f etc/rtcd.yaml]                   run the daemon (relay + signaling + web app)
  rtcd turn [-f FILE]                       run the relay alone (TURN-only mode, docs/turn-only.md)
  rtcd import-coturn /etc/turnserver.conf   print an rtcd.yaml equivalent to a coturn config
  rtcd check-config -f FILE                 validate a configuration without starting
  rtcd token --room R --user U [--ttl 1h] [--host]   mint a join token for Signal.Mode=token (--host: host controls)
  rtcd probe URL [--json] [--trace]         check a deployment end to end, as a user would
  rtcd bench relay|udp|alloc|signal|sfu|compare  benchmark a TURN server, the hub or the SFU (rtcd bench help)
  rtcd version                              print build information
`)
}

// usageError marks mistakes on the command line (exit status 2).
type usageError struct{ error }

// configFlag registers -f and returns a function resolving the path to
// load: the flag when given, else etc/rtcd.yaml when present, else "" (the
// embedded defaults).
func configFlag(fs *flag.FlagSet) func() string {
	path := fs.String("f", "", "config file (default etc/rtcd.yaml, else built-in defaults)")
	return func() string {
		if *path != "" {
			return *path
		}
		if _, err := os.Stat(defaultConfigPath); err == nil {
			return defaultConfigPath
		}
		return ""
	}
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// serve runs the daemon until SIGTERM/SIGINT; turnOnly is `rtcd turn`,
// which runs the relay alone whatever Signal.Disabled says.
func serve(args []string, stderr io.Writer, turnOnly bool) error {
	name := "rtcd"
	if turnOnly {
		name = "rtcd turn"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := config.Load(path())
	if err != nil {
		return err
	}
	if turnOnly {
		c.Signal.Disabled = true
		if err := c.Validate(); err != nil {
			return err
		}
	}
	if err := logx.SetUp(c.Log); err != nil {
		return fmt.Errorf("Log: %w", err)
	}
	d, err := daemon.New(c)
	if err != nil {
		return err
	}
	if path() == "" {
		logx.Info("no etc/rtcd.yaml here: running on the built-in defaults")
	}
	if err := d.Start(); err != nil {
		return err
	}
	group := service.NewServiceGroup()
	for _, s := range d.Services() {
		group.Add(s)
	}
	group.Start() // returns once SIGTERM/SIGINT has stopped every service
	logx.Info("rtcd stopped")
	return nil
}

func checkConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	p := path()
	c, err := config.Load(p)
	if err != nil {
		return err
	}
	if _, err := daemon.New(c); err != nil {
		return err
	}
	if p == "" {
		p = "built-in defaults"
	}
	_, _ = fmt.Fprintf(stdout, "%s: ok\n", p)
	return nil
}

func printVersion(w io.Writer) {
	_, _ = fmt.Fprintf(w, "rtcd %s\n", version)
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	_, _ = fmt.Fprintf(w, "  go:     %s\n", info.GoVersion)
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH":
			_, _ = fmt.Fprintf(w, "  %-7s %s\n", s.Key+":", s.Value)
		}
	}
	for _, dep := range info.Deps {
		switch dep.Path {
		case "github.com/pion/turn/v4", "github.com/zeromicro/go-zero", "github.com/pion/webrtc/v4":
			_, _ = fmt.Fprintf(w, "  %s %s\n", dep.Path, dep.Version)
		}
	}
}
