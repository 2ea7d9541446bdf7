package turn

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// The kernel fast path's program, written with cilium/ebpf's asm package
// rather than C compiled by bpf2go: the build machines have no clang, and
// with asm the program is built from Go at load time, so a normal `go build`
// needs no toolchain and no generated object can drift from its source. The
// price is assembly; the program is kept small and straight (no loops: the
// payload copy is unrolled; one map lookup per direction), the verifier
// loads it in a unit test
// (TestKernelProgramLoads), and BPF_PROG_TEST_RUN exercises it on crafted
// packets (kfast_linux_test.go).
//
// It runs on tc ingress (TCX) of the interfaces clients and peers reach the
// relay on. For an IPv4 UDP datagram (no options, not a fragment, no VLAN
// tag, no GSO) it looks up, in that order:
//
//   - kfPeerMap by (source, destination, source port, destination port),
//     all in network order: a datagram from a bound peer to its relay
//     socket. It inserts the 4-byte ChannelData header after the UDP
//     header, rewrites addresses and ports to (server listen address →
//     client) and redirects it towards the client;
//   - kfClientMap by the same four plus the channel number: ChannelData
//     from a client to the listen socket whose channel is bound. Only when
//     the ChannelData length is exactly the rest of the datagram (no
//     padding, not short, under pion's 1600-byte limit) it strips the
//     header, rewrites to (relay socket → peer) and redirects towards the
//     peer.
//
// Everything else, including every failed check and peer datagrams longer
// than kfChunks*kfChunk bytes or than the client's link allows with the
// header, returns TCX_NEXT: the datagram goes on unchanged to user space
// (and to any later tc program). The headers stay where they are and the
// payload moves by 4 bytes (bpf_skb_change_tail for the length), so a
// CHECKSUM_PARTIAL skb's csum_start stays right. The IPv4 and UDP checksums
// are updated incrementally with the kernel's csum helpers, which also keep
// skb->csum right for CHECKSUM_COMPLETE; the redirect is bpf_redirect_neigh
// to the interface user space found by a route lookup, so the kernel
// resolves the next hop. When the datagram came in on loopback and that
// lookup says its new destination is on this host (loopback as well), the
// program returns TCX_PASS instead: the datagram goes on up the stack to
// the local socket with its new headers, rather than out through loopback
// and in a second time. (A datagram from another interface is redirected
// even to a local destination: passed up with a local source address it
// would be dropped as martian.)
//
// Counters: each binding owns a slot of the per-CPU array kfCounters
// (kfSlotSize bytes): packets and payload bytes each way, read by user
// space.

// kfMaxClientTotLen: pion drops ChannelData datagrams of maxFastFrame
// bytes or more; a datagram's IP length is 28 bytes more than its UDP
// payload.
const kfMaxClientTotLen = maxFastFrame + 28 - 1

// tc/tcx return codes and helper flags (linux/bpf.h, linux/pkt_cls.h).
const (
	tcxNext           = -1
	tcxPass           = 0
	tcActShot         = 2
	bpfFRecomputeCsum = 1 << 0
	bpfFPseudoHdr     = 1 << 4
	bpfFMarkMangled0  = 1 << 5
	sizeofEth         = 14
)

// __sk_buff field offsets (linux/bpf.h).
const (
	skbProtocol    = 16
	skbVlanPresent = 20
	skbGSOSize     = 176
	skbIfindex     = 40 // the interface the datagram is on
)

// loopbackIfindex is every network namespace's loopback interface
// (LOOPBACK_IFINDEX in the kernel).
const loopbackIfindex = 1

// Stack layout (offsets from R10). The IP header is loaded at fp-48 so that
// every 4-byte field is 4-aligned, as the verifier requires on the stack.
const (
	fpSlot    = -4   // u32 counter slot key
	fpPkt     = -48  // 32 bytes: IPv4 header, UDP header, ChannelData header (loaded apart)
	fpTotLen  = -46  // in fpPkt
	fpFrag    = -42  //
	fpProto   = -39  //
	fpSaddr   = -36  // saddr, daddr, sport, dport: the peer key
	fpDaddr   = -32  //
	fpPorts   = -28  //
	fpULen    = -24  //
	fpUCsum   = -22  //
	fpChan    = -20  // ChannelData number and length
	fpCDLen   = -18  //
	fpKey     = -64  // 16 bytes: the client key
	fpF1      = -80  // 12 bytes: old addresses and length (pseudo header)
	fpT1      = -96  // 12 bytes: new addresses and length
	fpF2      = -112 // 12 bytes: old ports, length, ChannelData header
	fpT2      = -128 // 12 bytes: new ports, length, ChannelData header
	fpU       = -144 // 12 bytes: the new UDP (and ChannelData) header
	fpPDiff   = -152 // u64 pseudo-header (and IPv4 header) checksum diff
	fpNDiff   = -160 // u64 UDP header checksum diff
	fpNewTot  = -162 // u16 new IPv4 total length (network order)
	fpNewULen = -164 // u16 new UDP length (network order)
	fpRem     = -176 // u64 payload bytes still to move
	fpOff     = -184 // u64 offset of the next chunk
	fpN       = -192 // u64 this chunk's length
	fpBuf     = -448 // kfChunk bytes: a chunk on its way
)

// The payload moves in kfChunks chunks of kfChunk bytes at most: a peer
// datagram longer than that stays in user space (a client's ChannelData is
// shorter: pion's limit).
const (
	kfChunk  = 256
	kfChunks = 7
)

// kfProgram is the tc program; the map references are resolved by name
// when the collection loads.
func kfProgram() asm.Instructions {
	R0, R1, R2, R3, R4, R5 := asm.R0, asm.R1, asm.R2, asm.R3, asm.R4, asm.R5
	R6, R7, R8, R9, FP := asm.R6, asm.R7, asm.R8, asm.R9, asm.RFP
	ld := func(dst asm.Register, off int16, sz asm.Size) asm.Instruction { return asm.LoadMem(dst, FP, off, sz) }
	st := func(off int16, src asm.Register, sz asm.Size) asm.Instruction { return asm.StoreMem(FP, off, src, sz) }
	// cp copies a 4- or 2-byte stack field.
	cp := func(dst, src int16, sz asm.Size) asm.Instructions {
		return asm.Instructions{ld(R2, src, sz), st(dst, R2, sz)}
	}
	fromVal := func(dst int16, off int16, sz asm.Size) asm.Instructions {
		return asm.Instructions{asm.LoadMem(R2, R7, off, sz), st(dst, R2, sz)}
	}
	stackPtr := func(r asm.Register, off int32) asm.Instructions {
		return asm.Instructions{asm.Mov.Reg(r, FP), asm.Add.Imm(r, off)}
	}
	csumDiff := func(from, to int16, out int16) asm.Instructions {
		var in asm.Instructions
		in = append(in, stackPtr(R1, int32(from))...)
		in = append(in, asm.Mov.Imm(R2, 12))
		in = append(in, stackPtr(R3, int32(to))...)
		return append(in, asm.Mov.Imm(R4, 12), asm.Mov.Imm(R5, 0), asm.FnCsumDiff.Call(), st(out, R0, asm.DWord))
	}
	store := func(off int32, from int16, n int32, flags int32) asm.Instructions {
		in := asm.Instructions{asm.Mov.Reg(R1, R6), asm.Mov.Imm(R2, off)}
		in = append(in, stackPtr(R3, int32(from))...)
		return append(in, asm.Mov.Imm(R4, n), asm.Mov.Imm(R5, flags), asm.FnSkbStoreBytes.Call(), asm.JNE.Imm(R0, 0, "drop"))
	}
	// shift moves the payload (fpRem bytes) by 4 bytes, towards the
	// headers (forward) or away from them, kfChunk bytes at a time through
	// fpBuf, unrolled (no loop for the verifier to bound). skb->csum
	// follows (BPF_F_RECOMPUTE_CSUM).
	shift := func(forward bool, tag string) asm.Instructions {
		var in asm.Instructions
		done := tag + "_done"
		for i := 0; i < kfChunks; i++ {
			ok := fmt.Sprintf("%s_%d", tag, i)
			in = append(in,
				ld(R4, fpRem, asm.DWord),
				asm.JEq.Imm(R4, 0, done),
				asm.JLE.Imm(R4, kfChunk, ok),
				asm.Mov.Imm(R4, kfChunk),
				st(fpN, R4, asm.DWord).WithSymbol(ok),
			)
			if forward { // from fpOff to fpOff-4, first chunk first
				in = append(in, ld(R2, fpOff, asm.DWord))
			} else { // last chunk first: from 42+rem-n to 46+rem-n
				in = append(in, ld(R2, fpRem, asm.DWord), asm.Sub.Reg(R2, R4), asm.Add.Imm(R2, sizeofEth+28), st(fpOff, R2, asm.DWord))
			}
			in = append(in, asm.Mov.Reg(R1, R6))
			in = append(in, stackPtr(R3, fpBuf)...)
			in = append(in, asm.FnSkbLoadBytes.Call(), asm.JNE.Imm(R0, 0, "drop"),
				asm.Mov.Reg(R1, R6), ld(R2, fpOff, asm.DWord))
			if forward {
				in = append(in, asm.Add.Imm(R2, -4))
			} else {
				in = append(in, asm.Add.Imm(R2, 4))
			}
			in = append(in, stackPtr(R3, fpBuf)...)
			in = append(in, ld(R4, fpN, asm.DWord), asm.Mov.Imm(R5, bpfFRecomputeCsum),
				asm.FnSkbStoreBytes.Call(), asm.JNE.Imm(R0, 0, "drop"),
				ld(R2, fpRem, asm.DWord), ld(R3, fpN, asm.DWord), asm.Sub.Reg(R2, R3), st(fpRem, R2, asm.DWord))
			if forward {
				in = append(in, ld(R2, fpOff, asm.DWord), asm.Add.Reg(R2, R3), st(fpOff, R2, asm.DWord))
			}
		}
		// kfChunks*kfChunk bytes is more than any payload let in.
		return append(in, asm.Mov.Reg(R1, R6).WithSymbol(done))
	}
	// changeTail sets the skb's length to the IPv4 datagram's plus delta
	// (R1 is the skb already, as shift leaves it).
	changeTail := func(delta int32, fail string) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(R2, R8), asm.Add.Imm(R2, sizeofEth+delta), asm.Mov.Imm(R3, 0),
			asm.FnSkbChangeTail.Call(), asm.JNE.Imm(R0, 0, fail),
		}
	}
	// csumAdd adds the sum of the 4 bytes at from to skb->csum, negated
	// (CHECKSUM_COMPLETE only; an error otherwise, ignored).
	csumAdd := func(from int16, negate bool) asm.Instructions {
		var in asm.Instructions
		if negate {
			in = append(in, stackPtr(R1, int32(from))...)
			in = append(in, asm.Mov.Imm(R2, 4), asm.Mov.Imm(R3, 0), asm.Mov.Imm(R4, 0))
		} else {
			in = append(in, asm.Mov.Imm(R1, 0), asm.Mov.Imm(R2, 0))
			in = append(in, stackPtr(R3, int32(from))...)
			in = append(in, asm.Mov.Imm(R4, 4))
		}
		return append(in, asm.Mov.Imm(R5, 0), asm.FnCsumDiff.Call(),
			asm.Mov.Reg(R1, R6), asm.Mov.Reg(R2, R0), asm.FnCsumUpdate.Call())
	}
	// rewrite stores the new headers (fpT1's addresses, fpNewTot, fpU's UDP
	// header) and fixes both checksums. The changes are not added to
	// skb->csum: each is offset by its checksum field's, except for the
	// pseudo header's, which l4_csum_replace applies.
	rewrite := func() asm.Instructions {
		var in asm.Instructions
		in = append(in, store(sizeofEth+12, fpT1, 8, 0)...)
		in = append(in, store(sizeofEth+2, fpNewTot, 2, 0)...)
		in = append(in, store(sizeofEth+20, fpU, 8, 0)...)
		in = append(in,
			asm.Mov.Reg(R1, R6), asm.Mov.Imm(R2, sizeofEth+10), asm.Mov.Imm(R3, 0), ld(R4, fpPDiff, asm.DWord), asm.Mov.Imm(R5, 0),
			asm.FnL3CsumReplace.Call(), asm.JNE.Imm(R0, 0, "drop"),
			asm.Mov.Reg(R1, R6), asm.Mov.Imm(R2, sizeofEth+26), asm.Mov.Imm(R3, 0), ld(R4, fpPDiff, asm.DWord), asm.Mov.Imm(R5, bpfFPseudoHdr|bpfFMarkMangled0),
			asm.FnL4CsumReplace.Call(), asm.JNE.Imm(R0, 0, "drop"),
			asm.Mov.Reg(R1, R6), asm.Mov.Imm(R2, sizeofEth+26), asm.Mov.Imm(R3, 0), ld(R4, fpNDiff, asm.DWord), asm.Mov.Imm(R5, bpfFMarkMangled0),
			asm.FnL4CsumReplace.Call(), asm.JNE.Imm(R0, 0, "drop"),
		)
		return in
	}
	// count adds one packet of R9 payload bytes at counter offset off of
	// the binding's slot, then redirects to the value's interface.
	count := func(off int16, label string) asm.Instructions {
		in := asm.Instructions{asm.LoadMem(R2, R7, kfvSlot, asm.Word), st(fpSlot, R2, asm.Word),
			asm.LoadMapPtr(R1, 0).WithReference(kfCounters)}
		in = append(in, stackPtr(R2, fpSlot)...)
		return append(in,
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(R0, 0, label),
			asm.LoadMem(R2, R0, off, asm.DWord), asm.Add.Imm(R2, 1), asm.StoreMem(R0, off, R2, asm.DWord),
			asm.LoadMem(R2, R0, off+8, asm.DWord), asm.Add.Reg(R2, R9), asm.StoreMem(R0, off+8, R2, asm.DWord),
			asm.LoadMem(R1, R7, kfvIfindex, asm.Word).WithSymbol(label),
			// From loopback to a destination on this host (loopback): the
			// rewritten datagram goes on up the stack to the local socket.
			asm.JNE.Imm(R1, loopbackIfindex, label+"_out"),
			asm.LoadMem(R2, R6, skbIfindex, asm.Word),
			asm.JEq.Imm(R2, loopbackIfindex, label+"_local"),
			asm.Mov.Imm(R2, 0).WithSymbol(label+"_out"), asm.Mov.Imm(R3, 0), asm.Mov.Imm(R4, 0),
			asm.FnRedirectNeigh.Call(),
			asm.Return(),
			asm.Mov.Imm(R0, tcxPass).WithSymbol(label+"_local"),
			asm.Return(),
		)
	}
	// be16 converts R's low 16 bits between host and network order.
	be16 := func(r asm.Register) asm.Instruction { return asm.HostTo(asm.BE, r, asm.Half) }

	var p asm.Instructions
	add := func(in ...asm.Instruction) { p = append(p, in...) }
	addAll := func(in asm.Instructions) { p = append(p, in...) }

	// Parse.
	add(
		asm.Mov.Reg(R6, R1),
		asm.LoadMem(R2, R6, skbProtocol, asm.Word),
		asm.JNE.Imm(R2, 0x0008, "next"), // htons(ETH_P_IP) read as a little-endian word
		asm.LoadMem(R2, R6, skbVlanPresent, asm.Word),
		asm.JNE.Imm(R2, 0, "next"),
		asm.LoadMem(R2, R6, skbGSOSize, asm.Word),
		asm.JNE.Imm(R2, 0, "next"),
		asm.Mov.Reg(R1, R6), asm.Mov.Imm(R2, sizeofEth),
	)
	addAll(stackPtr(R3, fpPkt))
	add(
		asm.Mov.Imm(R4, 28),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(R0, 0, "next"), // shorter than IPv4 + UDP headers
		ld(R2, fpPkt, asm.Byte),
		asm.JNE.Imm(R2, 0x45, "next"), // IPv4 without options
		ld(R2, fpProto, asm.Byte),
		asm.JNE.Imm(R2, 17, "next"), // UDP
		ld(R2, fpFrag, asm.Half),
		asm.And.Imm(R2, 0xff3f), // htons(IP_MF|IP_OFFSET)
		asm.JNE.Imm(R2, 0, "next"),
		ld(R8, fpTotLen, asm.Half), be16(R8),
		asm.JLT.Imm(R8, 28, "next"),
		ld(R2, fpULen, asm.Half), be16(R2),
		asm.Mov.Reg(R3, R8), asm.Add.Imm(R3, -20),
		asm.JNE.Reg(R2, R3, "next"), // the UDP length is the rest of the datagram

		// Peer → client?
		asm.LoadMapPtr(R1, 0).WithReference(kfPeerMap),
	)
	addAll(stackPtr(R2, fpSaddr))
	add(
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(R0, 0, "peer"),

		// Client → peer: ChannelData of a bound channel?
		asm.JLT.Imm(R8, 32, "next"),
		asm.Mov.Reg(R1, R6), asm.Mov.Imm(R2, sizeofEth+28),
	)
	addAll(stackPtr(R3, fpChan))
	add(
		asm.Mov.Imm(R4, 4),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(R0, 0, "next"),
		ld(R2, fpChan, asm.Byte),
		asm.And.Imm(R2, 0xC0),
		asm.JNE.Imm(R2, 0x40, "next"),
	)
	addAll(cp(fpKey, fpSaddr, asm.Word))
	addAll(cp(fpKey+4, fpDaddr, asm.Word))
	addAll(cp(fpKey+8, fpPorts, asm.Word))
	add(ld(R2, fpChan, asm.Word), asm.And.Imm(R2, 0xffff), st(fpKey+12, R2, asm.Word),
		asm.LoadMapPtr(R1, 0).WithReference(kfClientMap))
	addAll(stackPtr(R2, fpKey))
	// addressInputs stores the checksum inputs both directions share: F1/T1
	// (addresses and UDP length, from and to) and F2's ports and length.
	addressInputs := func() {
		addAll(cp(fpF1, fpSaddr, asm.Word))
		addAll(cp(fpF1+4, fpDaddr, asm.Word))
		add(asm.StoreImm(FP, fpF1+8, 0, asm.Half))
		addAll(cp(fpF1+10, fpULen, asm.Half))
		addAll(fromVal(fpT1, kfvAddrs, asm.Word))
		addAll(fromVal(fpT1+4, kfvAddrs+4, asm.Word))
		add(asm.StoreImm(FP, fpT1+8, 0, asm.Half))
		addAll(cp(fpT1+10, fpNewULen, asm.Half))
		addAll(cp(fpF2, fpPorts, asm.Word))
		addAll(cp(fpF2+4, fpULen, asm.Half))
	}
	add(
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(R0, 0, "next"),
		asm.Mov.Reg(R7, R0),
		asm.JGT.Imm(R8, kfMaxClientTotLen, "next"),
		ld(R9, fpCDLen, asm.Half), be16(R9),
		asm.Mov.Reg(R2, R8), asm.Add.Imm(R2, -32),
		asm.JNE.Reg(R9, R2, "next"), // short, or padded: user space

		// Checksum inputs: F1/T1 (addresses, UDP length: the IPv4 total
		// length changes by the same 4, so one diff serves both headers),
		// F2/T2 (ports, UDP length, the ChannelData header that goes).
		asm.Mov.Reg(R2, R8), asm.Add.Imm(R2, -4), be16(R2), st(fpNewTot, R2, asm.Half),
		asm.Mov.Reg(R2, R8), asm.Add.Imm(R2, -24), be16(R2), st(fpNewULen, R2, asm.Half),
	)
	addressInputs()
	add(asm.StoreImm(FP, fpF2+6, 0, asm.Half))
	addAll(cp(fpF2+8, fpChan, asm.Word))
	addAll(fromVal(fpT2, kfvPorts, asm.Word))
	addAll(cp(fpT2+4, fpNewULen, asm.Half))
	add(asm.StoreImm(FP, fpT2+6, 0, asm.Half), asm.StoreImm(FP, fpT2+8, 0, asm.Word))
	addAll(fromVal(fpU, kfvPorts, asm.Word))
	addAll(cp(fpU+4, fpNewULen, asm.Half))
	addAll(cp(fpU+6, fpUCsum, asm.Half))
	addAll(csumDiff(fpF1, fpT1, fpPDiff))
	addAll(csumDiff(fpF2, fpT2, fpNDiff))
	// Move the payload over the ChannelData header and drop the tail: the
	// headers stay where they are, so a CHECKSUM_PARTIAL skb's csum_start
	// stays right (bpf_skb_adjust_room would move them and not it).
	add(asm.Mov.Reg(R2, R9), st(fpRem, R2, asm.DWord), asm.Mov.Imm(R2, sizeofEth+32), st(fpOff, R2, asm.DWord))
	addAll(shift(true, "fwd"))
	addAll(changeTail(-4, "drop"))
	addAll(rewrite())
	// The header's removal is in skb->csum (shift) and offset in the UDP
	// checksum field (rewrite): add it back once.
	addAll(csumAdd(fpF2+8, false))
	addAll(count(0, "toPeer"))

	// Peer → client: R0 is the binding.
	add(
		asm.Mov.Reg(R7, R0).WithSymbol("peer"),
		asm.Mov.Reg(R9, R8), asm.Add.Imm(R9, -28), // payload length
		asm.Mov.Reg(R2, R8), asm.Add.Imm(R2, 4),
		asm.LoadMem(R3, R7, kfvMTU, asm.Half),
		asm.JGT.Reg(R2, R3, "next"), // would not fit the client's link: user space
		asm.JGT.Imm(R9, kfChunks*kfChunk, "next"),
		be16(R2), st(fpNewTot, R2, asm.Half),
		asm.Mov.Reg(R2, R8), asm.Add.Imm(R2, -16), be16(R2), st(fpNewULen, R2, asm.Half),
	)
	addressInputs()
	add(asm.StoreImm(FP, fpF2+6, 0, asm.Half), asm.StoreImm(FP, fpF2+8, 0, asm.Word))
	addAll(fromVal(fpT2, kfvPorts, asm.Word))
	addAll(cp(fpT2+4, fpNewULen, asm.Half))
	add(asm.StoreImm(FP, fpT2+6, 0, asm.Half))
	addAll(fromVal(fpT2+8, kfvChannel, asm.Half))
	add(asm.Mov.Reg(R2, R9), be16(R2), st(fpT2+10, R2, asm.Half))
	addAll(fromVal(fpU, kfvPorts, asm.Word))
	addAll(cp(fpU+4, fpNewULen, asm.Half))
	addAll(cp(fpU+6, fpUCsum, asm.Half))
	addAll(cp(fpU+8, fpT2+8, asm.Word))
	addAll(csumDiff(fpF1, fpT1, fpPDiff))
	addAll(csumDiff(fpF2, fpT2, fpNDiff))
	// Grow the tail by 4 bytes, move the payload back by 4 and put the
	// ChannelData header in front of it (headers stay, as above).
	add(asm.Mov.Reg(R1, R6))
	addAll(changeTail(4, "next"))
	add(asm.Mov.Reg(R2, R9), st(fpRem, R2, asm.DWord))
	addAll(shift(false, "back"))
	addAll(store(sizeofEth+28, fpU+8, 4, bpfFRecomputeCsum))
	addAll(rewrite())
	addAll(csumAdd(fpU+8, true))
	addAll(count(16, "fromPeer"))

	add(
		asm.Mov.Imm(R0, tcActShot).WithSymbol("drop"), // rewritten halfway: never deliver it
		asm.Return(),
		asm.Mov.Imm(R0, tcxNext).WithSymbol("next"),
		asm.Return(),
	)
	return p
}

// Map names the program refers to.
const (
	kfClientMap = "kf_client"
	kfPeerMap   = "kf_peer"
	kfCounters  = "kf_counters"
)

// kfSpec is the program and its maps; maxBindings sizes the maps.
func kfSpec(maxBindings uint32) *ebpf.CollectionSpec {
	return &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			kfClientMap: {Name: kfClientMap, Type: ebpf.Hash, KeySize: kfKeySize, ValueSize: kfValueSize, MaxEntries: maxBindings},
			kfPeerMap:   {Name: kfPeerMap, Type: ebpf.Hash, KeySize: kfPeerKeyLen, ValueSize: kfValueSize, MaxEntries: maxBindings},
			kfCounters:  {Name: kfCounters, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: kfSlotSize, MaxEntries: maxBindings},
		},
		Programs: map[string]*ebpf.ProgramSpec{
			"rtcd_turn": {
				Name:         "rtcd_turn",
				Type:         ebpf.SchedCLS,
				AttachType:   ebpf.AttachTCXIngress,
				License:      "GPL", // bpf_redirect_neigh and the csum helpers are GPL-only
				Instructions: kfProgram(),
			},
		},
	}
}
