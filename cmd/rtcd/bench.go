package main

import (
	"context"
	"io"
	"os"
	ossignal "os/signal"
	"syscall"

	"github.com/rtcd/rtcd/bench"
)

// runBench runs `rtcd bench ...`, cancelled by SIGINT/SIGTERM so that a
// benchmark interrupted by hand still stops the servers it started.
func runBench(args []string, stdout io.Writer) error {
	ctx, stop := ossignal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench.Run(ctx, args, stdout)
}
