package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// LoadResult is one measured row: one target at one client count.
type LoadResult struct {
	Target       string  `json:"target"`
	Transport    string  `json:"transport,omitempty"`
	Clients      int     `json:"clients"`
	Size         int     `json:"size"`
	Rate         float64 `json:"rate_per_client"` // packets/s per client; 0 = closed loop
	Window       int     `json:"window,omitempty"`
	Seconds      float64 `json:"seconds"`
	SetupSeconds float64 `json:"setup_seconds"`
	Sent         uint64  `json:"sent"`
	Echoes       uint64  `json:"echoes"`
	EchoesPerSec float64 `json:"echoes_per_sec"`
	LossPct      float64 `json:"loss_pct"`
	// Mbps is echoed payload goodput in one direction (echoes/s × size × 8).
	Mbps        float64      `json:"mbit_per_sec"`
	RTTP50us    float64      `json:"rtt_p50_us"`
	RTTP99us    float64      `json:"rtt_p99_us"`
	RTTMeanus   float64      `json:"rtt_mean_us"`
	RTTMaxus    float64      `json:"rtt_max_us"`
	WriteErrors uint64       `json:"write_errors"`
	Stalls      uint64       `json:"stalls"`
	Server      *ServerUsage `json:"server,omitempty"`
	Host        *HostUsage   `json:"host,omitempty"`
	// Runs and the min/max fields are set with --repeat > 1: this row is the
	// median run of Runs (by echoes/s closed-loop, by p99 when paced).
	Runs            int     `json:"runs,omitempty"`
	EchoesPerSecMin float64 `json:"echoes_per_sec_min,omitempty"`
	EchoesPerSecMax float64 `json:"echoes_per_sec_max,omitempty"`
	RTTP99usMin     float64 `json:"rtt_p99_us_min,omitempty"`
	RTTP99usMax     float64 `json:"rtt_p99_us_max,omitempty"`
}

// ServerUsage is the monitored server's cost over the measured window. A relayed
// datagram is one packet through the server in either direction, so each echo
// counts two.
type ServerUsage struct {
	PID                  int     `json:"pid"`
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUPercent           float64 `json:"cpu_percent"`
	Datagrams            uint64  `json:"datagrams"`
	CPUMicrosPerDatagram float64 `json:"cpu_us_per_datagram"`
	RSSBeforeKiB         int64   `json:"rss_before_kib"`
	RSSAfterKiB          int64   `json:"rss_after_kib"`
}

// HostUsage is the machine's CPU over the measured window from /proc/stat,
// and that minus bench's own (the load generator and the echo peer): the
// relay's cost including the kernel's share that a process's own figure
// leaves out (softirq, and all of a kernel fast path). Kernel work that
// runs in the softirq of bench's own system calls is charged to bench on a
// kernel without IRQ time accounting, so it is subtracted too; AllMicros
// keeps it.
type HostUsage struct {
	CPUs                       int     `json:"cpus"`
	BusyPercent                float64 `json:"busy_percent"` // of one core; CPUs×100 is all
	GeneratorPercent           float64 `json:"generator_percent"`
	NotGeneratorMicrosPerDgram float64 `json:"not_generator_cpu_us_per_datagram"`
	AllMicrosPerDgram          float64 `json:"all_cpu_us_per_datagram"`
	// OursMicrosPerDgram is the server's and bench's own CPU per datagram
	// (bench's alone for raw UDP): unlike the host figures it leaves out
	// whatever else runs on the machine, and keeps kernel work charged to
	// either process (a kernel fast path's softirq runs in its senders'
	// system calls on loopback).
	OursMicrosPerDgram float64 `json:"server_and_generator_cpu_us_per_datagram"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (r *LoadResult) fill(t *flowResult, cfg loadConfig) {
	r.Sent, r.Echoes = t.sent, t.recv
	r.EchoesPerSec = float64(t.recv) / cfg.duration.Seconds()
	r.LossPct = lossPct(t.sent, t.recv)
	r.Mbps = r.EchoesPerSec * float64(cfg.size) * 8 / 1e6
	r.RTTP50us = us(t.rtt.Quantile(0.50))
	r.RTTP99us = us(t.rtt.Quantile(0.99))
	r.RTTMeanus = us(t.rtt.Mean())
	r.RTTMaxus = us(t.rtt.Max())
	r.WriteErrors, r.Stalls = t.writeErrs, t.stalls
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("bench: write json: %w", err)
	}
	return nil
}

// fnum formats with thousands separators and no decimals ("41,873").
func fnum(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

// writeLoadTable prints rows as an aligned table.
func writeLoadTable(out io.Writer, rows []LoadResult) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	spread := false
	for _, r := range rows {
		spread = spread || r.Runs > 1
	}
	fmt.Fprint(tw, "target\tclients\techoes/s\tloss %\tMbit/s\tp50 µs\tp99 µs\tmax µs\tstalls\tsrv µs/dgram\tsrv CPU %\tsrv RSS MiB\thost-gen µs/dgram\thost µs/dgram\tsrv+gen µs/dgram\tgen CPU %\t")
	if spread {
		fmt.Fprint(tw, "runs\tmin..max echoes/s\tmin..max p99 µs\t")
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		srv, cpu, rss := "-", "-", "-"
		if r.Server != nil {
			srv = fmt.Sprintf("%.2f", r.Server.CPUMicrosPerDatagram)
			cpu = fmt.Sprintf("%.0f", r.Server.CPUPercent)
			rss = mib(r.Server.RSSBeforeKiB) + "→" + mib(r.Server.RSSAfterKiB)
		}
		label := r.Target
		if r.Transport != "" {
			label += "/" + r.Transport
		}
		hostGen, host, ours, gen := "-", "-", "-", "-"
		if r.Host != nil {
			hostGen = fmt.Sprintf("%.2f", r.Host.NotGeneratorMicrosPerDgram)
			host = fmt.Sprintf("%.2f", r.Host.AllMicrosPerDgram)
			ours = fmt.Sprintf("%.2f", r.Host.OursMicrosPerDgram)
			gen = fmt.Sprintf("%.0f", r.Host.GeneratorPercent)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%.1f\t%.0f\t%.0f\t%.0f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t",
			label, r.Clients, fnum(r.EchoesPerSec), r.LossPct, r.Mbps, r.RTTP50us, r.RTTP99us,
			r.RTTMaxus, r.Stalls, srv, cpu, rss, hostGen, host, ours, gen)
		if spread {
			fmt.Fprintf(tw, "%d\t%s..%s\t%s..%s\t", r.Runs, fnum(r.EchoesPerSecMin), fnum(r.EchoesPerSecMax),
				fnum(r.RTTP99usMin), fnum(r.RTTP99usMax))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	return nil
}

func describeLoad(cfg loadConfig) string {
	mode := fmt.Sprintf("closed loop, window %d", cfg.window)
	if cfg.rate > 0 {
		mode = fmt.Sprintf("%s packets/s per client", fnum(cfg.rate))
	}
	return fmt.Sprintf("%d-byte packets, %s, %s measured after %s warm-up", cfg.size, mode, cfg.duration, cfg.warmup)
}
