package sfu

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// streamIDs maps the SSRCs a test client sends to the mid and rid its
// packets must carry. pion does not write these header extensions on its
// own, and a receiver tells simulcast layers apart only by them, as it
// does for a browser's.
type streamIDs struct {
	mu  sync.Mutex
	ids map[uint32][2]string // ssrc → mid, rid
	// level is the audio level every audio packet carries, in -dBov (127:
	// silence); the speaker detection reads it.
	level atomic.Uint32
}

func (s *streamIDs) set(ssrc uint32, mid, rid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[uint32][2]string{}
	}
	s.ids[ssrc] = [2]string{mid, rid}
}

func (s *streamIDs) get(ssrc uint32) ([2]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.ids[ssrc]
	return id, ok
}

// NewInterceptor makes streamIDs an interceptor.Factory.
func (s *streamIDs) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &streamIDWriter{ids: s}, nil
}

// streamIDWriter adds the mid and rid header extensions to every packet of
// a stream streamIDs knows, with the IDs negotiated for the stream.
type streamIDWriter struct {
	interceptor.NoOp
	ids *streamIDs
}

func (w *streamIDWriter) BindLocalStream(info *interceptor.StreamInfo, next interceptor.RTPWriter) interceptor.RTPWriter {
	var midID, ridID, levelID uint8
	for _, e := range info.RTPHeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		case sdp.AudioLevelURI:
			levelID = uint8(e.ID)
		}
	}
	ssrc := info.SSRC
	audio := strings.HasPrefix(info.MimeType, "audio/")
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if audio && levelID != 0 {
			_ = h.SetExtension(levelID, []byte{byte(w.ids.level.Load())})
		}
		if id, ok := w.ids.get(ssrc); ok && id[1] != "" && midID != 0 && ridID != 0 {
			_ = h.SetExtension(midID, []byte(id[0]))
			_ = h.SetExtension(ridID, []byte(id[1]))
		}
		return next.Write(h, payload, a)
	})
}
