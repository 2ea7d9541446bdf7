package turn

import (
	"errors"
	"fmt"

	"github.com/zeromicro/go-zero/core/logx"
)

// The kernel fast path (Config.FastPath): a tc program (kfast_prog_linux.go)
// relays ChannelData of bound channels between UDP clients and peers without
// the datagrams reaching user space. User space stays the control plane:
// pion decides allocations, permissions, channel bindings, refreshes and
// expiry, peerPolicy the deny table and quotas, exactly as without it. The
// kernel only holds entries for the bindings the user-space fast path
// (fastpath.go) holds as active, installed when a binding becomes active
// and removed when it stops being so (channel or permission deleted or
// expired, allocation deleted, relay socket closed). Bindings it cannot
// take stay on the user-space path: TCP and TLS clients, peers at the
// server's own relay address (whose port is checked per datagram), IPv6,
// and any binding whose route lookup fails.
//
// Its traffic is counted per binding in per-CPU kernel counters, which
// Stats adds to the relay counters (PacketsToPeers, ...) and reports apart
// as KernelToPeers/KernelFromPeers, so /metrics loses nothing.

// Config.FastPath values.
const (
	// FastPathAuto uses the kernel fast path when the kernel and the
	// process's privileges allow, and says once at start why not otherwise.
	FastPathAuto = "auto"
	// FastPathOff keeps every datagram in user space.
	FastPathOff = "off"
	// FastPathOn requires the kernel fast path: Start fails without it.
	FastPathOn = "on"
)

// kfMaxBindings sizes the kernel maps; bindings past it stay in user space.
const kfMaxBindings = 65536

// Kernel map layouts (kfast_prog_linux.go reads them).
const (
	kfKeySize    = 16 // client key; the peer key is 12 bytes
	kfPeerKeyLen = 12
	kfValueSize  = 24
	kfSlotSize   = 32 // per-CPU: toPeerPackets, toPeerBytes, fromPeerPackets, fromPeerBytes
	// value offsets
	kfvAddrs   = 0  // new source, new destination address (network order)
	kfvPorts   = 8  // new source, new destination port (network order)
	kfvIfindex = 12 // egress interface (host order)
	kfvSlot    = 16 // counter slot (host order)
	kfvChannel = 20 // channel number (network order), for peer → client
	kfvMTU     = 22 // egress MTU (host order)
)

// A value's addresses and ports lie as a key's do (kfEntryFor writes both
// with one function): this fails to compile unless kfvPorts is kfvAddrs+8.
const _ = uint(kfvPorts-kfvAddrs-8) + uint(kfvAddrs+8-kfvPorts)

// kfEntry is one binding's pair of kernel entries.
//
// Client key: client IP, server IP, client port, server port, channel, 0.
// Peer key: peer IP, relay IP, peer port, relay port. Both in network order,
// as the datagram carries them.
type kfEntry struct {
	clientKey [kfKeySize]byte
	clientVal [kfValueSize]byte
	peerKey   [kfPeerKeyLen]byte
	peerVal   [kfValueSize]byte
	slot      uint32
}

var errKernelUnsupported = errors.New("kernel fast path: only on Linux")

// validFastPath checks Config.FastPath.
func validFastPath(v string) error {
	switch v {
	case "", FastPathAuto, FastPathOff, FastPathOn:
		return nil
	}
	return fmt.Errorf("Turn.FastPath: %q is not auto, off or on", v)
}

// startKernel opens the kernel fast path as Config.FastPath asks. With
// "on" a failure is Start's error; with "auto" it is logged, once, and the
// relay runs in user space.
func (s *Server) startKernel() error {
	mode := s.cfg.FastPath
	if mode == FastPathOff {
		return nil
	}
	var k *kernelFast
	var err error
	if !s.tune.fastPath {
		err = errors.New("kernel fast path: needs the user-space fast path, and Turn.DisableFastPath is set")
	} else {
		k, err = openKernelFast(s.cfg.FastPathInterfaces, kfMaxBindings)
	}
	if err != nil {
		if mode == FastPathOn {
			return fmt.Errorf("Turn.FastPath on: %w", err)
		}
		logx.Infow("turn: kernel fast path off, relaying in user space", logx.Field("reason", err.Error()))
		return nil
	}
	s.kf = k
	logx.Infow("turn: kernel fast path on", logx.Field("interfaces", k.describe()))
	return nil
}

// stopKernel detaches the program; every relay is closed by then.
func (s *Server) stopKernel() {
	if s.kf != nil {
		s.kf.close()
	}
}

// kernelAdd installs b's kernel entries, if the kernel path runs and can
// take b; b stays on the user-space path otherwise. Called with
// b.relay.fast.mu held.
func (s *Server) kernelAdd(b *binding) {
	if s.kf == nil || b.kern != nil {
		return
	}
	e, err := s.kf.entry(b)
	if err == nil {
		err = s.kf.install(e)
	}
	if err != nil {
		s.stats.kernelMisses.Add(1)
		logx.Debugw("turn: channel not on the kernel fast path",
			logx.Field("channel", b.num), logx.Field("peer", b.peer.String()), logx.Field("reason", err.Error()))
		return
	}
	b.kern = e
}

// kernelDel removes b's kernel entries and keeps their final counts in the
// relay's counters. Called with b.relay.fast.mu held.
func (s *Server) kernelDel(b *binding) {
	if b.kern == nil {
		return
	}
	b.relay.traffic.addKernel(s.kf.remove(b.kern))
	b.kern = nil
}

// kernelTraffic adds the live kernel counters of f's bindings to t.
func (f *relayFast) kernelTraffic(s *Server, t *relayTraffic) {
	if s.kf == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.chans {
		if b.kern != nil {
			t.addKernel(s.kf.read(b.kern.slot))
		}
	}
}

// addKernel counts kernel-relayed traffic into t.
func (t *relayTraffic) addKernel(c kfCounts) {
	t.packetsOut.Add(c.toPkts)
	t.bytesOut.Add(c.toBytes)
	t.kernOut.Add(c.toPkts)
	t.packetsIn.Add(c.fromPkts)
	t.bytesIn.Add(c.fromBytes)
	t.kernIn.Add(c.fromPkts)
}
