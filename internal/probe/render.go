package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Render writes the report as text, or as indented JSON when asJSON is set.
func Render(w io.Writer, r Report, asJSON bool) error {
	if asJSON {
		return WriteJSON(w, r)
	}
	return WriteText(w, r)
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people: one line per check with its
// time, and the error and hint under each failure.
func WriteText(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "rtcd probe %s\n\n", r.URL)
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		d := c.Duration.Round(time.Millisecond).String()
		if c.Duration < time.Millisecond {
			d = "<1ms"
		}
		status, dur := "ok  ", fmt.Sprintf("%7s", d)
		switch {
		case c.Skipped:
			status, dur = "skip", fmt.Sprintf("%7s", "-")
		case !c.OK:
			status = "FAIL"
		}
		fmt.Fprintf(&b, "  %s  %-*s  %s", status, width, c.Name, dur)
		if c.Detail != "" && (c.OK || c.Skipped) {
			fmt.Fprintf(&b, "  %s", c.Detail)
		}
		b.WriteString("\n")
		if !c.OK && !c.Skipped {
			fmt.Fprintf(&b, "        error: %s\n", c.Error)
			if c.Hint != "" {
				fmt.Fprintf(&b, "        hint:  %s\n", c.Hint)
			}
		}
	}
	b.WriteString("\n")
	if failed := r.Failed(); failed > 0 {
		fmt.Fprintf(&b, "%d of %d checks failed (%s). Exit status 1.\n", failed, len(r.Checks), r.Duration.Round(time.Millisecond))
	} else {
		fmt.Fprintf(&b, "All checks passed (%s): this deployment can carry calls, also through its relay.\n",
			r.Duration.Round(time.Millisecond))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
