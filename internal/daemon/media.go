package daemon

import (
	"encoding/json"

	"github.com/rtcd/rtcd/internal/sfu"
	"github.com/rtcd/rtcd/signal"
)

// mediaServer adapts the SFU to the hub's signal.MediaServer, so that
// signal needs nothing of WebRTC.
type mediaServer struct{ s *sfu.Server }

func (m mediaServer) Join(room, peer string, send func(string, json.RawMessage)) (signal.MediaSession, error) {
	p, err := m.s.Join(room, peer, func(sg sfu.Signal) { send(sg.Kind, sg.Data) })
	if err != nil {
		return nil, err
	}
	return mediaSession{p}, nil
}

// mediaSession is one participant of the SFU as the hub sees it.
type mediaSession struct{ p *sfu.Participant }

func (m mediaSession) Signal(kind string, data json.RawMessage) error {
	return m.p.HandleSignal(sfu.Signal{Kind: kind, Data: data})
}

func (m mediaSession) HoldAudio(held bool) { m.p.HoldAudio(held) }

func (m mediaSession) Close() error { return m.p.Close() }

// sfuConfig is the SFU section with Turn.PublicIP as the default public
// address: the relay may always send to its own address, so relay-only
// clients reach the SFU through it.
func (d *Daemon) sfuConfig() sfu.ServerConfig {
	c := d.cfg.SFU.ServerConfig()
	if c.PublicIP == "" {
		c.PublicIP = d.cfg.Turn.PublicIP
	}
	return c
}

// wantsSFU reports whether the configuration uses the media server.
func (d *Daemon) wantsSFU() bool {
	return !d.cfg.Signal.Disabled && d.cfg.Signal.WithDefaults().Media != signal.MediaMesh
}
