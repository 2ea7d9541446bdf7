// Command benchcmd runs the bench library (bench.Run) until `rtcd bench` is
// wired into cmd/rtcd; test/bench-smoke.sh and test/bench-full.sh fall back
// to it when the rtcd binary has no bench subcommand.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rtcd/rtcd/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bench.Run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
