// Package webhook posts the daemon's room and participant events (room
// started or ended, participant joined or left) to the operator's receivers
// as signed JSON, retried with exponential backoff, from a bounded queue, so
// that a slow or dead receiver never holds up signaling: what does not fit
// in the queue is dropped and counted.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/internal/defaults"
)

// Headers of every delivery.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with
	// Webhooks.Secret, of HeaderTimestamp's value, ".", and the body.
	HeaderSignature = "X-Rtcd-Signature"
	// HeaderTimestamp is the unix time (seconds) of the attempt; a receiver
	// refuses old ones, so a captured delivery cannot be replayed later.
	HeaderTimestamp = "X-Rtcd-Timestamp"
	// HeaderEvent is the event's type.
	HeaderEvent = "X-Rtcd-Event"
	// HeaderDelivery is the event's id, the same on every attempt, so a
	// receiver can drop a retried event it already has.
	HeaderDelivery = "X-Rtcd-Delivery"
)

// MinSecretLen is the shortest Webhooks.Secret accepted.
const MinSecretLen = 16

// Config is the `Webhooks` section of etc/rtcd.yaml.
type Config struct {
	// URLs are the receivers; every event goes to each. Empty (the
	// default) turns webhooks off.
	URLs []string `json:",optional"`
	// Secret keys the HMAC of HeaderSignature; required with URLs, at least
	// 16 characters, from the environment (${RTCD_WEBHOOK_SECRET}).
	Secret string `json:",optional"`
	// QueueSize bounds the events waiting per receiver; more are dropped
	// (and counted) rather than held in memory or waited for. Defaults to 1024.
	QueueSize int `json:",optional"`
	// Timeout bounds one attempt. Defaults to 5s.
	Timeout time.Duration `json:",optional"`
	// Attempts is how often an event is tried before it is given up: a
	// network error, a 5xx, 408 or 429 is retried, any other answer is
	// final. Defaults to 6.
	Attempts int `json:",optional"`
	// Backoff is the wait before the first retry, doubled before each next
	// one (1s, 2s, 4s ...). Defaults to 1s.
	Backoff time.Duration `json:",optional"`
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	defaults.Set(&c.QueueSize, 1024)
	defaults.Set(&c.Timeout, 5*time.Second)
	defaults.Set(&c.Attempts, 6)
	defaults.Set(&c.Backoff, time.Second)
	return c
}

// Enabled reports whether any receiver is configured.
func (c Config) Enabled() bool { return len(c.URLs) > 0 }

// Validate names the first invalid field.
func (c Config) Validate() error {
	d := c.WithDefaults()
	for i, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("Webhooks.URLs[%d]: %q is not an http(s) URL", i, u)
		}
	}
	if c.Enabled() && len(c.Secret) < MinSecretLen {
		return fmt.Errorf("Webhooks.Secret: receivers must be able to check what they get: at least %d characters (set RTCD_WEBHOOK_SECRET)", MinSecretLen)
	}
	switch {
	case d.QueueSize < 1:
		return fmt.Errorf("Webhooks.QueueSize: %d must be at least 1", c.QueueSize)
	case d.Attempts < 1:
		return fmt.Errorf("Webhooks.Attempts: %d must be at least 1", c.Attempts)
	case d.Timeout <= 0:
		return fmt.Errorf("Webhooks.Timeout: %v must be positive", c.Timeout)
	case d.Backoff <= 0:
		return fmt.Errorf("Webhooks.Backoff: %v must be positive", c.Backoff)
	}
	return nil
}

// Participant is the participant of a participant event.
type Participant struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Event is one delivery's JSON body.
type Event struct {
	ID          string       `json:"id"`   // "evt_" and 24 hex digits, as HeaderDelivery
	Type        string       `json:"type"` // room.started, room.ended, participant.joined, participant.left
	Time        time.Time    `json:"time"`
	Room        string       `json:"room"`
	Participant *Participant `json:"participant,omitempty"`
	Node        string       `json:"node,omitempty"` // cluster mode: the node that reports it
}

// Stats counts what became of the events.
type Stats struct {
	Delivered uint64 // a receiver answered 2xx
	Failed    uint64 // given up: a final answer, or every attempt failed
	Retries   uint64 // attempts after the first
	Dropped   uint64 // the receiver's queue was full, or the sender stopped first
}

// Sender delivers events to the receivers of a Config, one queue and one
// goroutine per receiver.
type Sender struct {
	cfg    Config
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	queues []chan Event
	wg     sync.WaitGroup

	delivered, failed, retries, dropped atomic.Uint64
}

// New starts a sender; Close stops it. cfg must be valid and enabled.
func New(cfg Config) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("Webhooks.URLs: none; webhooks are off")
	}
	cfg = cfg.WithDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}, ctx: ctx, cancel: cancel}
	for _, u := range cfg.URLs {
		q := make(chan Event, cfg.QueueSize)
		s.queues = append(s.queues, q)
		s.wg.Add(1)
		go s.run(u, q)
	}
	return s, nil
}

// NewID returns a fresh event id.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}

// Send queues e for every receiver and returns at once: an event that
// finds a receiver's queue full is dropped for it. e.ID is set if empty.
func (s *Sender) Send(e Event) {
	if e.ID == "" {
		e.ID = NewID()
	}
	for _, q := range s.queues {
		select {
		case q <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

// Stats returns the counters.
func (s *Sender) Stats() Stats {
	return Stats{Delivered: s.delivered.Load(), Failed: s.failed.Load(), Retries: s.retries.Load(), Dropped: s.dropped.Load()}
}

// Close stops the sender: attempts in flight are cut, what is queued is
// dropped (and counted). When it returns nothing of the sender runs.
func (s *Sender) Close() {
	s.cancel()
	s.wg.Wait()
	for _, q := range s.queues {
		for drained := false; !drained; {
			select {
			case <-q:
				s.dropped.Add(1)
			default:
				drained = true
			}
		}
	}
}

// run delivers the events of one receiver, in order.
func (s *Sender) run(u string, q chan Event) {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case e := <-q:
			s.deliver(u, e)
		}
	}
}

// deliver tries e until it is delivered, a final answer comes, the attempts
// are used up or the sender stops.
func (s *Sender) deliver(u string, e Event) {
	body, err := json.Marshal(e)
	if err != nil {
		s.failed.Add(1)
		return
	}
	wait := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := s.attempt(u, e, body)
		if err == nil {
			s.delivered.Add(1)
			return
		}
		if !retry || attempt >= s.cfg.Attempts {
			s.failed.Add(1)
			// The URL may carry a token in its query: log the host only.
			logx.Infow("webhook: event not delivered", logx.Field("receiver", hostOf(u)), logx.Field("event", e.Type),
				logx.Field("attempts", attempt), logx.Field("err", err.Error()))
			return
		}
		select {
		case <-s.ctx.Done():
			s.dropped.Add(1)
			return
		case <-time.After(wait):
		}
		wait *= 2
		s.retries.Add(1)
	}
}

// attempt posts body once; retry says whether a failure may be retried.
func (s *Sender) attempt(u string, e Event, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("webhook: request: %w", err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rtcd-webhook/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(s.cfg.Secret, ts, body))
	req.Header.Set(HeaderEvent, e.Type)
	req.Header.Set(HeaderDelivery, e.ID)
	resp, err := s.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("webhook: post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return false, nil
	case c >= 500 || c == http.StatusRequestTimeout || c == http.StatusTooManyRequests:
		return true, fmt.Errorf("webhook: receiver answered %d", c)
	default:
		return false, fmt.Errorf("webhook: receiver answered %d", c)
	}
}

func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Host
	}
	return "?"
}

// Sign is HeaderSignature's value for a body sent at timestamp ts.
func Sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp too old or in the future")
)

// Verify is what a receiver (in Go) runs on a delivery: the signature
// header sig must be Sign's for the timestamp header ts and the body, in
// constant time, and ts within tolerance of now.
func Verify(secret, ts, sig string, body []byte, now time.Time, tolerance time.Duration) error {
	want := Sign(secret, ts, body)
	if !hmac.Equal([]byte(strings.TrimSpace(sig)), []byte(want)) {
		return ErrBadSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrStale
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
