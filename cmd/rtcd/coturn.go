package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rtcd/rtcd/internal/coturnconf"
)

// importCoturn prints the TURN-only rtcd.yaml equivalent to a coturn
// turnserver.conf on stdout, and on stderr, line by line, what it did not
// carry over. Secrets are not printed: the YAML reads them from the
// environment, and stderr says which variable takes which line's secret.
func importCoturn(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import-coturn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprintln(stderr, "usage: rtcd import-coturn /etc/turnserver.conf > rtcd.yaml")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageError{fmt.Errorf("import-coturn takes one file")}
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import-coturn: %w", err)
	}
	defer f.Close()
	res, err := coturnconf.Parse(f)
	if err != nil {
		return fmt.Errorf("import-coturn: %s: %w", path, err)
	}
	for _, n := range res.Notes {
		_, _ = fmt.Fprintf(stderr, "%s:%d: %s: %s\n", path, n.Line, n.Option, n.Text)
	}
	for i := range res.Secrets {
		_, _ = fmt.Fprintf(stderr, "%s: static-auth-secret #%d: set %s to it (the YAML does not contain it)\n", path, i+1, coturnconf.SecretEnv(i))
	}
	_, err = io.WriteString(stdout, res.YAML)
	return err
}
