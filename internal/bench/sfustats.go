package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// seqWindow is how many recent extended sequence numbers a seqTracker
// remembers to tell a retransmission or duplicate from a first arrival.
const seqWindow = 1024

// seqTracker counts one received RTP stream's packets by sequence number
// (RFC 3550 A.1 without the probation): 16-bit numbers are extended across
// wraparound relative to the highest seen, so a stream that wraps several
// times, arrives reordered or has packets retransmitted still yields
// expected = highest - lowest + 1 and lost = expected - unique received.
// The zero value is ready; it is not safe for concurrent use.
type seqTracker struct {
	started  bool
	base     int64 // lowest extended sequence number seen
	max      int64 // highest extended sequence number seen
	received uint64
	dups     uint64
	seen     [seqWindow]int64 // ext+1 of the packet last counted in each slot; 0 = empty
}

// seqOrigin keeps extended numbers positive when the first packet is
// followed by ones from before it.
const seqOrigin = 1 << 32

// add records one packet and reports whether it was new: a duplicate of a
// packet within the last seqWindow numbers is not counted again.
func (s *seqTracker) add(seq uint16) bool {
	var ext int64
	if !s.started {
		s.started = true
		ext = seqOrigin + int64(seq)
		s.base, s.max = ext, ext
	} else {
		// The signed 16-bit distance from the highest seen picks the cycle.
		ext = s.max + int64(int16(seq-uint16(s.max)))
		if ext > s.max {
			s.max = ext
		}
		if ext < s.base {
			s.base = ext
		}
	}
	slot := &s.seen[ext%seqWindow]
	if *slot == ext+1 {
		s.dups++
		return false
	}
	*slot = ext + 1
	s.received++
	return true
}

// expected is the number of packets between the lowest and highest sequence
// number seen, both included.
func (s *seqTracker) expected() uint64 {
	if !s.started {
		return 0
	}
	return uint64(s.max - s.base + 1)
}

// lost is expected minus the unique packets received, never negative.
func (s *seqTracker) lost() uint64 {
	e := s.expected()
	if s.received >= e {
		return 0
	}
	return e - s.received
}

// hostCPU is the machine-wide CPU time from the first line of /proc/stat.
type hostCPU struct {
	Busy  time.Duration // user, nice, system, irq, softirq and steal, all CPUs
	Total time.Duration // Busy plus idle and iowait
}

// readHostCPU samples /proc/stat.
func readHostCPU() (hostCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPU{}, fmt.Errorf("bench: host cpu: %w", err)
	}
	return parseHostCPU(b)
}

// parseHostCPU reads the aggregate "cpu" line of /proc/stat. guest and
// guest_nice are already counted in user and nice, so they are not added.
func parseHostCPU(stat []byte) (hostCPU, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return hostCPU{}, fmt.Errorf("bench: /proc/stat: no aggregate cpu line")
	}
	var v [8]int64 // user nice system idle iowait irq softirq steal
	for i := range v {
		if i+1 >= len(f) {
			break
		}
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return hostCPU{}, fmt.Errorf("bench: /proc/stat: field %d: %w", i+1, err)
		}
		v[i] = n
	}
	tick := time.Second / clockTicks
	busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return hostCPU{Busy: time.Duration(busy) * tick, Total: time.Duration(busy+v[3]+v[4]) * tick}, nil
}

// cpuUse is the CPU a process or the host spent over a window, and what it
// bought in forwarded traffic.
type cpuUse struct {
	cpu      time.Duration
	window   time.Duration
	mbps     float64 // forwarded Mbit/s over the window
	packetsS float64 // forwarded packets/s over the window
}

// percent is CPU time over wall time, in percent of one core.
func (c cpuUse) percent() float64 { return 100 * ratio(c.cpu.Seconds(), c.window.Seconds()) }

// mbitPerCore is forwarded Mbit/s per core fully used.
func (c cpuUse) mbitPerCore() float64 { return ratio(c.mbps, c.cpu.Seconds()/c.window.Seconds()) }

// microsPerPacket is the CPU spent per forwarded packet.
func (c cpuUse) microsPerPacket() float64 {
	return ratio(float64(c.cpu)/float64(time.Microsecond), c.packetsS*c.window.Seconds())
}
