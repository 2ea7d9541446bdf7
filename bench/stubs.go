package bench

import (
	"context"
	"errors"
	"io"
)

func runSignalMode(context.Context, []string, io.Writer) error {
	return errors.New("bench: signal: todo")
}
