// Package metrics exports rtcd's counters in Prometheus format. Collectors
// read the relay's, the hub's and the webhook sender's Stats when scraped,
// so metrics cost nothing on the packet and message paths. Labels are only
// message types, error codes and fixed outcomes: never user names, room
// names (outside the media server's per-room series), addresses, receiver
// URLs or secrets.
package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtcd/rtcd/internal/sfu"
	"github.com/rtcd/rtcd/internal/webhook"
	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/turn"
)

// Source is what a collector reads: the relay, the hub, the media server
// and the webhook sender of one node. Any may be nil or return nil (for
// example before the hub exists, the media server in mesh mode, or the
// webhook sender when Webhooks.URLs is empty).
type Source struct {
	Relay    func() *turn.Server
	Hub      func() *signal.Hub
	SFU      func() *sfu.Server
	Webhooks func() *webhook.Sender
}

// Collector is a prometheus.Collector over one node's counters.
type Collector struct {
	src   Source
	descs map[string]*prometheus.Desc
}

type metricDef struct {
	name, help string
	labels     []string
}

var defs = []metricDef{
	{"rtcd_ws_connections", "Open signaling WebSockets.", nil},
	{"rtcd_signal_sessions", "Live signaling sessions, including those waiting for a resume.", nil},
	{"rtcd_rooms", "Rooms with at least one peer.", nil},
	{"rtcd_peers", "Sessions in a room.", nil},
	{"rtcd_signal_messages_total", "Signaling messages received, by type.", []string{"type"}},
	{"rtcd_signal_errors_total", "Signaling error replies and refusals, by code.", []string{"code"}},
	{"rtcd_signal_auth_failures_total", "Bad join tokens and unknown resume tokens.", nil},
	{"rtcd_signal_slow_consumers_total", "Sessions ended because their outgoing queue overflowed.", nil},
	{"rtcd_signal_ip_limited_total", "WebSocket upgrades refused by the per-IP connection limit.", nil},
	{"rtcd_signal_relayed_total", "Signals delivered to their addressee.", nil},
	{"rtcd_signal_media_sessions", "Open sessions with the media server.", nil},
	{"rtcd_signal_media_promotions_total", "Rooms moved from mesh to the media server (Signal.Media auto).", nil},
	{"rtcd_sfu_participants", "Participants of the media server, by room.", []string{"room"}},
	{"rtcd_sfu_forwarded_packets_total", "RTP packets the media server forwarded, by room.", []string{"room"}},
	{"rtcd_sfu_forwarded_bytes_total", "RTP bytes the media server forwarded, by room.", []string{"room"}},
	{"rtcd_sfu_layer_switches_total", "Simulcast layer switches of subscribers, by room.", []string{"room"}},
	{"rtcd_sfu_nacks_total", "NACKs received from subscribers, by room.", []string{"room"}},
	{"rtcd_sfu_plis_total", "Keyframe requests sent to publishers, by room.", []string{"room"}},
	{"rtcd_sfu_audio_held_total", "Audio packets not forwarded because their publisher was not among the room's loudest, by room.", []string{"room"}},
	{"rtcd_sfu_audio_muted_total", "Audio packets not forwarded because a host muted their publisher, by room.", []string{"room"}},
	{"rtcd_sfu_estimated_bitrate_bps", "Bandwidth the media server estimates towards a subscriber.", []string{"room", "peer"}},
	{"rtcd_webhook_deliveries_total", "Webhook events by outcome per receiver: ok (a 2xx), failed (a final answer, or every attempt failed), dropped (the receiver's queue was full, or the daemon stopped first).", []string{"result"}},
	{"rtcd_webhook_retries_total", "Webhook attempts after an event's first.", nil},
	{"rtcd_turn_allocations_active", "Live TURN allocations.", nil},
	{"rtcd_turn_allocations_created_total", "TURN allocations created.", nil},
	{"rtcd_turn_relayed_packets_total", "Datagrams relayed, by direction (to_peer, from_peer).", []string{"direction"}},
	{"rtcd_turn_relayed_bytes_total", "Bytes relayed, by direction (to_peer, from_peer).", []string{"direction"}},
	{"rtcd_turn_permission_denials_total", "Peers refused by the peer policy (CreatePermission, ChannelBind).", nil},
	{"rtcd_turn_own_port_drops_total", "Datagrams to the relay's own address at a port where no allocation lives, dropped.", nil},
	{"rtcd_turn_loop_queue_drops_total", "Datagrams for pion (STUN, Data indications) an event loop dropped because pion's reader fell behind.", nil},
	{"rtcd_turn_fast_path_misses_total", "Allocations and channels the fast path could not match to rtcd's sockets (relayed by pion alone); 0 unless pion changed how it hands back addresses.", nil},
	{"rtcd_turn_kernel_relayed_packets_total", "Of the relayed datagrams, those the kernel fast path (eBPF) relayed, by direction.", []string{"direction"}},
	{"rtcd_turn_kernel_misses_total", "Channel bindings the kernel fast path could not take (TCP, IPv6, own relay address, no route, map full): relayed in user space.", nil},
	{"rtcd_turn_kernel_fast_path", "1 while the kernel fast path is attached, else 0.", nil},
	{"rtcd_turn_quota_refusals_total", "Allocations refused with 486 (any quota).", nil},
	{"rtcd_turn_address_quota_refusals_total", "Allocations refused with 486 at the per-address quota.", nil},
	{"rtcd_turn_tcp_refused_total", "TURN-over-TCP/TLS connections closed on accept (total or per-address cap).", nil},
	{"rtcd_turn_tcp_timeouts_total", "TURN-over-TCP/TLS connections closed for no first message in time, or idle.", nil},
	{"rtcd_turn_binding_rate_limited_total", "STUN Binding requests over UDP dropped by the per-address rate limit.", nil},
	{"rtcd_turn_auth_failures_total", "Malformed, expired, forged or wrong-realm TURN credentials.", nil},
	{"rtcd_turn_expired_accepted_total", "Requests on a live allocation whose credential had expired (allowed, like coturn).", nil},
}

// New returns a collector over src.
func New(src Source) *Collector {
	c := &Collector{src: src, descs: make(map[string]*prometheus.Desc, len(defs))}
	for _, d := range defs {
		c.descs[d.name] = prometheus.NewDesc(d.name, d.help, d.labels, nil)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	counter := func(name string, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	if c.src.Hub != nil {
		if h := c.src.Hub(); h != nil {
			s := h.Stats()
			gauge("rtcd_ws_connections", float64(s.Connections))
			gauge("rtcd_signal_sessions", float64(s.Sessions))
			gauge("rtcd_rooms", float64(s.Rooms))
			gauge("rtcd_peers", float64(s.Peers))
			for _, k := range sortedKeys(s.Messages) {
				counter("rtcd_signal_messages_total", s.Messages[k], k)
			}
			for _, k := range sortedKeys(s.Errors) {
				counter("rtcd_signal_errors_total", s.Errors[k], k)
			}
			counter("rtcd_signal_auth_failures_total", s.AuthFailures)
			counter("rtcd_signal_slow_consumers_total", s.SlowConsumers)
			counter("rtcd_signal_ip_limited_total", s.IPLimited)
			counter("rtcd_signal_relayed_total", s.Relayed)
			gauge("rtcd_signal_media_sessions", float64(s.MediaSessions))
			counter("rtcd_signal_media_promotions_total", s.Promotions)
		}
	}
	if c.src.SFU != nil {
		if m := c.src.SFU(); m != nil {
			for _, r := range m.Stats() {
				gauge("rtcd_sfu_participants", float64(r.Participants), r.Room)
				counter("rtcd_sfu_forwarded_packets_total", r.PacketsForwarded, r.Room)
				counter("rtcd_sfu_forwarded_bytes_total", r.BytesForwarded, r.Room)
				counter("rtcd_sfu_layer_switches_total", r.LayerSwitches, r.Room)
				counter("rtcd_sfu_nacks_total", r.NACKs, r.Room)
				counter("rtcd_sfu_plis_total", r.PLIs, r.Room)
				counter("rtcd_sfu_audio_held_total", r.AudioHeld, r.Room)
				counter("rtcd_sfu_audio_muted_total", r.AudioMuted, r.Room)
				for _, peer := range sortedKeys(r.EstimatedBitrate) {
					gauge("rtcd_sfu_estimated_bitrate_bps", float64(r.EstimatedBitrate[peer]), r.Room, peer)
				}
			}
		}
	}
	if c.src.Webhooks != nil {
		if w := c.src.Webhooks(); w != nil {
			s := w.Stats()
			counter("rtcd_webhook_deliveries_total", s.Delivered, "ok")
			counter("rtcd_webhook_deliveries_total", s.Failed, "failed")
			counter("rtcd_webhook_deliveries_total", s.Dropped, "dropped")
			counter("rtcd_webhook_retries_total", s.Retries)
		}
	}
	if c.src.Relay != nil {
		if r := c.src.Relay(); r != nil {
			s := r.Stats()
			gauge("rtcd_turn_allocations_active", float64(s.AllocationsActive))
			counter("rtcd_turn_allocations_created_total", s.AllocationsCreated)
			counter("rtcd_turn_relayed_packets_total", s.PacketsToPeers, "to_peer")
			counter("rtcd_turn_relayed_packets_total", s.PacketsFromPeers, "from_peer")
			counter("rtcd_turn_relayed_bytes_total", s.BytesToPeers, "to_peer")
			counter("rtcd_turn_relayed_bytes_total", s.BytesFromPeers, "from_peer")
			counter("rtcd_turn_permission_denials_total", s.PermissionDenials)
			counter("rtcd_turn_own_port_drops_total", s.OwnPortDrops)
			counter("rtcd_turn_loop_queue_drops_total", s.LoopQueueDrops)
			counter("rtcd_turn_fast_path_misses_total", s.FastPathMisses)
			counter("rtcd_turn_kernel_relayed_packets_total", s.KernelToPeers, "to_peer")
			counter("rtcd_turn_kernel_relayed_packets_total", s.KernelFromPeers, "from_peer")
			counter("rtcd_turn_kernel_misses_total", s.KernelMisses)
			kernel := 0.0
			if s.KernelFastPath {
				kernel = 1
			}
			gauge("rtcd_turn_kernel_fast_path", kernel)
			counter("rtcd_turn_quota_refusals_total", s.QuotaRefusals)
			counter("rtcd_turn_address_quota_refusals_total", s.AddressQuotaRefusals)
			counter("rtcd_turn_tcp_refused_total", s.TCPRefused)
			counter("rtcd_turn_tcp_timeouts_total", s.TCPTimeouts)
			counter("rtcd_turn_binding_rate_limited_total", s.BindingRateLimited)
			counter("rtcd_turn_auth_failures_total", s.AuthFailures)
			counter("rtcd_turn_expired_accepted_total", s.ExpiredAccepted)
		}
	}
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
