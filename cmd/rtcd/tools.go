package main

import (
	"context"
	"io"
	"os"
	ossignal "os/signal"
	"syscall"

	"github.com/rtcd/rtcd/internal/bench"
	"github.com/rtcd/rtcd/internal/probe"
	"github.com/zeromicro/go-zero/core/logx"
)

// interruptible returns a context cancelled by SIGINT/SIGTERM.
func interruptible() (context.Context, context.CancelFunc) {
	return ossignal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// runProbe runs `rtcd probe URL`, returning its exit status (0 all green).
func runProbe(args []string, stdout, stderr io.Writer) int {
	ctx, stop := interruptible()
	defer stop()
	return probe.Main(ctx, args, stdout, stderr)
}

// runBench runs `rtcd bench ...`, cancelled by SIGINT/SIGTERM so that a
// benchmark interrupted by hand still stops the servers it started.
func runBench(args []string, stdout io.Writer) error {
	// go-zero's once-a-minute CPU/memory stat lines would land in the report.
	logx.DisableStat()
	ctx, stop := interruptible()
	defer stop()
	return bench.Run(ctx, args, stdout)
}
