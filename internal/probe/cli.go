package probe

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// Main is `rtcd probe <url> [--json] [flags]`: it runs the checks, prints
// the report to stdout and returns the exit status (0 all green, 1 any
// failure, 2 bad usage). cmd/rtcd calls it; it never exits the process.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rtcd probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts Options
	fs.BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	fs.DurationVar(&opts.Timeout, "timeout", 45*time.Second, "time limit for the whole probe")
	fs.DurationVar(&opts.CheckTimeout, "check-timeout", 5*time.Second, "time limit for each check")
	fs.StringVar(&opts.Origin, "origin", "", "Origin header for the WebSocket (test the origin policy)")
	fs.StringVar(&opts.Token, "token", "", "join token, for servers in token mode")
	fs.StringVar(&opts.Room, "room", "", "room for the test call (default: random)")
	caFile := fs.String("ca", "", "PEM file of CA certificates to trust instead of the system roots (private CA)")
	trace := fs.Bool("trace", false, "print the test call's negotiation trace (offers, answers, candidates, states) to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rtcd probe <url> [--json] [--timeout 45s] [--check-timeout 5s] [--origin O] [--token T] [--room R] [--ca FILE] [--trace]")
		fs.PrintDefaults()
	}
	// Accept the URL before or after the flags.
	var url string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		url, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if url == "" && fs.NArg() > 0 {
		url = fs.Arg(0)
	}
	if url == "" {
		fs.Usage()
		return 2
	}
	opts.URL = url
	if *trace {
		opts.Trace = stderr
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(stderr, "rtcd probe: --ca:", err)
			return 2
		}
		opts.RootCAs = x509.NewCertPool()
		if !opts.RootCAs.AppendCertsFromPEM(pem) {
			fmt.Fprintln(stderr, "rtcd probe: --ca: no PEM certificate in", *caFile)
			return 2
		}
	}
	rep, err := Run(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := Render(stdout, rep, opts.JSON); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return rep.ExitCode()
}
