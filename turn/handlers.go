package turn

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	pionturn "github.com/pion/turn/v4"
	"github.com/rtcd/rtcd/auth"
	"github.com/zeromicro/go-zero/core/logx"
)

// pendingTTL bounds a quota reservation: pion calls the QuotaHandler before
// creating the relay and reports nothing if creation then fails.
const pendingTTL = 5 * time.Second

// srcKey identifies a client transport address. pion's 5-tuple always says
// "UDP", even for TCP clients, so the transport is taken from the address.
type srcKey struct {
	ap  netip.AddrPort
	tcp bool
}

func keyOf(a net.Addr) srcKey {
	switch v := a.(type) {
	case *net.UDPAddr:
		ap := v.AddrPort()
		return srcKey{ap: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	case *net.TCPAddr:
		ap := v.AddrPort()
		return srcKey{ap: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), tcp: true}
	}
	return srcKey{}
}

type liveKey struct {
	src      srcKey
	username string
}

type pending struct {
	user     string
	addr     netip.Addr
	deadline time.Time
}

// addrOf is the client address the per-address quota counts: the IPv4
// address, or the /64 of an IPv6 one (one host usually holds a whole /64).
func addrOf(k srcKey) netip.Addr {
	a := k.ap.Addr()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// allocTable tracks live allocations for the expiry rule and the quotas.
// Entries exist only for authenticated requests, so unauthenticated floods
// cannot grow it.
type allocTable struct {
	mu          sync.Mutex // guards the following fields
	live        map[liveKey]int
	liveSrc     map[srcKey]int     // live allocations by client transport address
	perUser     map[string]int     // live + pending
	perAddr     map[netip.Addr]int // live + pending, by addrOf
	total       int                // live + pending
	pending     map[srcKey]pending
	nextSweepAt time.Time
}

func newAllocTable() *allocTable {
	return &allocTable{
		live:    make(map[liveKey]int),
		liveSrc: make(map[srcKey]int),
		perUser: make(map[string]int),
		perAddr: make(map[netip.Addr]int),
		pending: make(map[srcKey]pending),
	}
}

func (t *allocTable) isLive(src net.Addr, username string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live[liveKey{keyOf(src), username}] > 0
}

// quotas are the allocation limits reserve enforces.
type quotas struct {
	perUser, perAddr, total int
}

// Limits reserve reports as "which".
const (
	limitTotal   = "total"
	limitUser    = "user"
	limitAddress = "address"
)

// hasLive reports whether the client transport address src holds a live
// allocation (any username).
func (t *allocTable) hasLive(src net.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.liveSrc[keyOf(src)] > 0
}

// reserve implements the quotas; it returns false with the limit hit.
func (t *allocTable) reserve(src net.Addr, user string, q quotas, now time.Time) (ok bool, which string) {
	k := keyOf(src)
	addr := addrOf(k)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now)
	if p, dup := t.pending[k]; dup {
		t.releaseLocked(p.user, p.addr)
		delete(t.pending, k)
	}
	if t.total >= q.total {
		return false, limitTotal
	}
	if t.perUser[user] >= q.perUser {
		return false, limitUser
	}
	if t.perAddr[addr] >= q.perAddr {
		return false, limitAddress
	}
	t.perUser[user]++
	t.perAddr[addr]++
	t.total++
	t.pending[k] = pending{user: user, addr: addr, deadline: now.Add(pendingTTL)}
	return true, ""
}

func (t *allocTable) sweepLocked(now time.Time) {
	if len(t.pending) == 0 || now.Before(t.nextSweepAt) {
		return
	}
	t.nextSweepAt = now.Add(time.Second)
	for k, p := range t.pending {
		if now.After(p.deadline) {
			t.releaseLocked(p.user, p.addr)
			delete(t.pending, k)
		}
	}
}

func (t *allocTable) releaseLocked(user string, addr netip.Addr) {
	t.total--
	if t.perUser[user]--; t.perUser[user] <= 0 {
		delete(t.perUser, user)
	}
	if t.perAddr[addr]--; t.perAddr[addr] <= 0 {
		delete(t.perAddr, addr)
	}
}

// created turns the reservation of src into a live allocation.
func (t *allocTable) created(src net.Addr, username, user string) {
	k := keyOf(src)
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.pending[k]; ok {
		delete(t.pending, k)
		t.releaseLocked(p.user, p.addr)
	}
	t.live[liveKey{k, username}]++
	t.liveSrc[k]++
	t.perUser[user]++
	t.perAddr[addrOf(k)]++
	t.total++
}

func (t *allocTable) deleted(src net.Addr, username, user string) {
	k := liveKey{keyOf(src), username}
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.live[k]
	if !ok {
		return
	}
	if n <= 1 {
		delete(t.live, k)
	} else {
		t.live[k] = n - 1
	}
	if t.liveSrc[k.src]--; t.liveSrc[k.src] <= 0 {
		delete(t.liveSrc, k.src)
	}
	t.releaseLocked(user, addrOf(k.src))
}

func (t *allocTable) sizes() (live, users, pend int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live), len(t.perUser), len(t.pending)
}

// userOf is the identity quotas count: the user part of the username, or
// the whole username when it has none (the bare "<expiry>" form Jitsi's
// prosody modules mint), as coturn counts user-quota per username.
func (s *Server) userOf(username string) string {
	u, err := s.issuer.User(username)
	if err != nil || u == "" {
		return username
	}
	return u
}

// authHandler implements coturn's expiry rule on top of pion's AuthHandler,
// which is called for every Allocate, Refresh, CreatePermission and
// ChannelBind without the method: an expired credential is accepted only
// from a client address that holds a live allocation made with that very
// username, i.e. one created while the credential was valid. pion then
// checks MESSAGE-INTEGRITY with the key, so the credential must be authentic.
func (s *Server) authHandler(username, realm string, src net.Addr) ([]byte, bool) {
	if realm != s.cfg.Realm {
		s.authFail("wrong realm", username, src)
		return nil, false
	}
	pw, _, err := s.issuer.Password(username)
	if errors.Is(err, auth.ErrExpired) && s.allocs.isLive(src, username) {
		pw, _, err = s.issuer.PasswordIgnoringExpiry(username)
		if err == nil {
			s.stats.expiredAccepted.Add(1)
		}
	}
	if err != nil {
		s.authFail(err.Error(), username, src)
		return nil, false
	}
	return pionturn.GenerateAuthKey(username, realm, pw), true
}

func (s *Server) authFail(reason, username string, src net.Addr) {
	s.stats.authFailures.Add(1)
	logx.Debugw("turn: credential refused",
		logx.Field("reason", reason), logx.Field("username", username), logx.Field("src", src.String()))
}

func (s *Server) quotaHandler(username, _ string, src net.Addr) bool {
	if s.stopping.Load() {
		return false
	}
	q := quotas{perUser: s.cfg.MaxAllocationsPerUser, perAddr: s.cfg.MaxAllocationsPerAddress, total: s.cfg.MaxAllocations}
	ok, which := s.allocs.reserve(src, s.userOf(username), q, s.now())
	if !ok {
		s.stats.quotaRefusals.Add(1)
		if which == limitAddress {
			s.stats.addrQuotaRefusals.Add(1)
		}
		logx.Debugw("turn: allocation quota reached",
			logx.Field("limit", which), logx.Field("user", s.userOf(username)), logx.Field("src", src.String()))
	}
	return ok
}

func (s *Server) permissionHandler(client net.Addr, peer net.IP) bool {
	r := s.policy.ClassifyIP(peer)
	if r.Allowed() {
		return true
	}
	s.stats.permissionDenials.Add(1)
	logx.Debugw("turn: peer refused",
		logx.Field("reason", r.String()), logx.Field("peer", peer.String()), logx.Field("client", client.String()))
	return false
}

func (s *Server) eventHandler() pionturn.EventHandler {
	return pionturn.EventHandler{
		OnAuth: func(src, _ net.Addr, _, username, _, method string, verdict bool) {
			if !verdict {
				s.authFail("bad message integrity ("+method+")", username, src)
			}
		},
		OnAllocationCreated: func(src, dst net.Addr, _, username, _ string, relay net.Addr, _ int) {
			s.onAllocationCreated(src, dst, relay)
			s.allocs.created(src, username, s.userOf(username))
			s.stats.allocationsCreated.Add(1)
			s.stats.allocationsActive.Add(1)
			logx.Debugw("turn: allocation created", logx.Field("src", src.String()), logx.Field("relay", relay.String()))
		},
		OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
			s.onPermission(relay, peer, true)
		},
		OnPermissionDeleted: func(_, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
			s.onPermission(relay, peer, false)
		},
		OnChannelCreated: func(src, dst net.Addr, _, _, _ string, relay, peer net.Addr, num uint16) {
			s.onChannelCreated(src, dst, relay, peer, num)
		},
		OnChannelDeleted: func(_, _ net.Addr, _, _, _ string, relay, _ net.Addr, num uint16) {
			s.onChannelDeleted(relay, num)
		},
		OnAllocationDeleted: func(src, _ net.Addr, _, username, _ string) {
			s.allocs.deleted(src, username, s.userOf(username))
			s.stats.allocationsActive.Add(-1)
			logx.Debugw("turn: allocation deleted", logx.Field("src", src.String()))
		},
	}
}
