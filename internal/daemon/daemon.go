// Package daemon assembles one rtcd node from its configuration: the
// STUN/TURN relay, the signaling hub, the web app and the JSON API behind
// go-zero's rest router. It exists apart from cmd/rtcd so that tests and
// tools can run a whole node in-process on free loopback ports.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/proc"
	"github.com/zeromicro/go-zero/core/service"
	"github.com/zeromicro/go-zero/rest"

	"github.com/rtcd/rtcd/auth"
	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/metrics"
	"github.com/rtcd/rtcd/internal/portmux"
	"github.com/rtcd/rtcd/internal/sfu"
	"github.com/rtcd/rtcd/internal/tlsconf"
	"github.com/rtcd/rtcd/internal/webhook"
	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/redisbus"
	"github.com/rtcd/rtcd/turn"
	"github.com/rtcd/rtcd/web"
)

// httpDrainTimeout bounds how long plain HTTP requests may take to finish at
// shutdown; it keeps the whole stop inside go-zero's 5.5 s wait window.
const httpDrainTimeout = 2 * time.Second

// Daemon is one running rtcd node. Create it with New, then Start; Stop
// drains signaling first and closes the relay last, so that calls that are
// reconnecting keep their TURN allocations as long as possible.
type Daemon struct {
	cfg    config.Config
	issuer *auth.Issuer
	tokens *auth.Tokens
	relay  *turn.Server
	bus    *redisbus.Bus   // cluster mode: the hub's room bus; nil on a single node
	hooks  *webhook.Sender // Webhooks.URLs: the hub's events go there; nil when off

	httpLn  net.Listener
	httpSrv *http.Server
	hub     *signal.Hub
	sfu     *sfu.Server // nil when Signal.Media is mesh

	tls        *tlsconf.Source // nil without a TLS section
	mux        *portmux.Mux    // the main port when TLS is on
	turnsMux   *portmux.Mux    // Turn.TLSListen
	redirect   *http.Server    // TLS.RedirectHTTP
	redirectLn net.Listener
	muxWG      sync.WaitGroup // the Serve loops of mux, turnsMux, redirect

	served   chan struct{} // closed when the HTTP server has stopped serving
	httpDown chan struct{} // closed when signaling and HTTP are drained
	stopped  chan struct{} // closed when everything is down
	draining atomic.Bool   // set when Stop begins; /readyz turns 503
	metrics  *metrics.Collector

	httpOnce sync.Once
	stopOnce sync.Once
}

// New checks the configuration and builds the services without opening any
// socket, so that every configuration mistake is reported before anything
// listens.
func New(c config.Config) (*Daemon, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	issuer, err := auth.NewIssuer(c.TURNSecrets(), c.Auth.WithDefaults().TTL)
	if err != nil {
		return nil, fmt.Errorf("Auth.Secrets: %w", err)
	}
	var tokens *auth.Tokens
	if c.Auth.TokenSecret != "" {
		if tokens, err = auth.NewTokens(c.Auth.TokenSecret); err != nil {
			return nil, fmt.Errorf("Auth.TokenSecret: %w", err)
		}
	}
	relay, err := turn.New(c.Turn, issuer)
	if err != nil {
		return nil, err
	}
	var bus *redisbus.Bus
	if c.Cluster.Enabled {
		if bus, err = redisbus.New(c.Cluster); err != nil {
			return nil, err
		}
	}
	var src *tlsconf.Source
	if c.TLS.Enabled() {
		if src, err = tlsconf.New(c.TLS); err != nil {
			return nil, fmt.Errorf("TLS.%w", err)
		}
	}
	return &Daemon{
		tls:      src,
		cfg:      c,
		issuer:   issuer,
		tokens:   tokens,
		relay:    relay,
		bus:      bus,
		served:   make(chan struct{}),
		httpDown: make(chan struct{}),
		stopped:  make(chan struct{}),
	}, nil
}

// Start binds every listener and starts serving. If any bind fails, what
// was bound is closed again and the error names the configuration field.
func (d *Daemon) Start() error {
	addr := net.JoinHostPort(d.cfg.Host, strconv.Itoa(d.cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("Host/Port: cannot listen on %s: %w", addr, err)
	}
	httpLn, closeListeners, err := d.listenTLS(ln)
	if err != nil {
		return err
	}
	if err := d.relay.Start(); err != nil {
		closeListeners()
		return err
	}
	d.serveTLS()
	urls := d.iceURLs()
	var hub *signal.Hub
	if !d.cfg.Signal.Disabled {
		if hub, err = signal.NewHub(d.signalConfig(), d.issuer, d.tokens, urls); err != nil {
			d.abortStart(closeListeners)
			return err
		}
		if d.wantsSFU() {
			if d.sfu, err = sfu.NewServer(d.sfuConfig()); err != nil {
				d.abortStart(closeListeners)
				return fmt.Errorf("SFU: %w", err)
			}
			// Relay-only clients reach the media server through the relay,
			// at the relay's own address when the two share it.
			if a, ok := d.sfu.UDPAddr().(*net.UDPAddr); ok {
				d.relay.OpenOwnPort(a.Port)
			}
			hub.SetMedia(mediaServer{d.sfu})
		}
		if d.cfg.Webhooks.Enabled() {
			if d.hooks, err = webhook.New(d.cfg.Webhooks); err != nil {
				d.closeSFU()
				d.abortStart(closeListeners)
				return err
			}
			hub.SetEvents(d.webhookEvent(hub))
		}
		if d.bus != nil {
			if err := hub.StartBus(d.bus); err != nil {
				d.closeHooks()
				d.closeSFU()
				d.abortStart(closeListeners)
				return err
			}
		}
	}
	handler, err := d.router(hub)
	if err != nil {
		if hub != nil {
			hub.Stop()
		}
		d.closeHooks()
		d.closeSFU()
		d.abortStart(closeListeners)
		return fmt.Errorf("http router: %w", err)
	}
	d.httpLn, d.hub = httpLn, hub
	d.httpSrv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		defer close(d.served)
		if err := d.httpSrv.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logx.Errorw("http server stopped", logx.Field("err", err.Error()))
		}
	}()
	d.registerMetrics()
	d.logStartup(urls)
	return nil
}

// registerMetrics exports the node's counters to Prometheus' default
// registry, which go-zero's loopback DevServer serves at /metrics. A second
// node in the same process (tests) is not exported.
func (d *Daemon) registerMetrics() {
	m := metrics.New(metrics.Source{Relay: d.Relay, Hub: d.Hub, SFU: d.SFU, Webhooks: d.webhookSender})
	if err := prometheus.Register(m); err != nil {
		logx.Infow("metrics: not exported, another node in this process is", logx.Field("err", err.Error()))
		return
	}
	d.metrics = m
}

// closeSFU closes the media server and its sockets, if it runs.
func (d *Daemon) closeSFU() {
	if d.sfu == nil {
		return
	}
	if err := d.sfu.Close(); err != nil {
		logx.Errorw("sfu close", logx.Field("err", err.Error()))
	}
}

// webhookEvent turns the hub's events into webhook deliveries, queued
// without waiting.
func (d *Daemon) webhookEvent(hub *signal.Hub) func(signal.Event) {
	return func(e signal.Event) {
		ev := webhook.Event{Type: e.Type, Time: e.Time.UTC(), Room: e.Room, Node: hub.NodeID()}
		if e.Peer != "" {
			ev.Participant = &webhook.Participant{ID: e.Peer, Name: e.Name}
		}
		d.hooks.Send(ev)
	}
}

// closeHooks stops the webhook sender, if it runs.
func (d *Daemon) closeHooks() {
	if d.hooks != nil {
		d.hooks.Close()
	}
}

// webhookSender is the webhook sender, nil when webhooks are off.
func (d *Daemon) webhookSender() *webhook.Sender { return d.hooks }

// Webhooks returns the webhook counters; zero when webhooks are off.
func (d *Daemon) Webhooks() webhook.Stats {
	if d.hooks == nil {
		return webhook.Stats{}
	}
	return d.hooks.Stats()
}

// SFU returns the media server, nil when Signal.Media is mesh.
func (d *Daemon) SFU() *sfu.Server { return d.sfu }

// abortStart undoes a Start that failed after the relay started.
func (d *Daemon) abortStart(closeListeners func()) {
	d.relay.Stop()
	d.closeTLS()
	closeListeners()
}

// listenTLS puts portmux on the main port when TLS is configured (HTTPS, and
// TURN over TLS with Turn.OnePort) and opens Turn.TLSListen and
// TLS.RedirectHTTP. The relay is given its TURN listeners; it must not have
// started. It returns the listener HTTP is served on and a function closing
// everything opened, for errors before serving starts.
func (d *Daemon) listenTLS(ln net.Listener) (net.Listener, func(), error) {
	closers := []func(){func() { _ = ln.Close() }}
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if d.tls == nil {
		return ln, closeAll, nil
	}
	protos := []string{portmux.ProtoH2, portmux.ProtoHTTP11}
	if d.cfg.Turn.OnePort {
		// Go picks the server's first protocol the client offers, and TURN
		// clients such as coturn's offer http/1.1 before stun.turn: list
		// stun.turn first, or they are handed to HTTP. Browsers opening a
		// page never offer stun.turn.
		protos = append([]string{portmux.ProtoTURN}, protos...)
	}
	d.mux = portmux.New(ln, d.tls.TLSConfig(protos...))
	if d.cfg.Turn.OnePort {
		if err := d.relay.AddListener(d.mux.TURN()); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("Turn.OnePort: %w", err)
		}
	} else {
		_ = d.mux.TURN().Close() // TURN-looking connections on 443 are closed
	}
	if a := d.cfg.Turn.TLSListen; a != "" {
		tln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("Turn.TLSListen: cannot listen on %s: %w", a, err)
		}
		closers = append(closers, func() { _ = tln.Close() })
		d.turnsMux = portmux.New(tln, d.tls.TLSConfig(portmux.ProtoTURN))
		_ = d.turnsMux.HTTP().Close() // TURN only on this port
		if err := d.relay.AddListener(d.turnsMux.TURN()); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("Turn.TLSListen: %w", err)
		}
	}
	if a := d.cfg.TLS.RedirectHTTP; a != "" {
		rln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("TLS.RedirectHTTP: cannot listen on %s: %w", a, err)
		}
		closers = append(closers, func() { _ = rln.Close() })
		d.redirect = d.tls.RedirectServer(addrPort(ln.Addr()))
		d.redirect.Addr = rln.Addr().String()
		d.redirectLn = rln
	}
	return d.mux.HTTP(), closeAll, nil
}

// serveTLS starts the accept loops opened by listenTLS.
func (d *Daemon) serveTLS() {
	for _, m := range []*portmux.Mux{d.mux, d.turnsMux} {
		if m == nil {
			continue
		}
		d.muxWG.Add(1)
		go func() {
			defer d.muxWG.Done()
			if err := m.Serve(); err != nil {
				logx.Errorw("portmux stopped", logx.Field("addr", m.Addr().String()), logx.Field("err", err.Error()))
			}
		}()
	}
	if d.redirect != nil {
		d.muxWG.Add(1)
		go func() {
			defer d.muxWG.Done()
			if err := d.redirect.Serve(d.redirectLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logx.Errorw("http redirect server stopped", logx.Field("err", err.Error()))
			}
		}()
	}
}

// closeTLS closes the shared ports after the relay has stopped.
func (d *Daemon) closeTLS() {
	if d.redirect != nil {
		_ = d.redirect.Close()
	}
	for _, m := range []*portmux.Mux{d.mux, d.turnsMux} {
		if m != nil {
			_ = m.Close()
		}
	}
	d.muxWG.Wait()
	if d.tls != nil {
		d.tls.Stop()
	}
}

// signalConfig is the Signal section with the names this daemon is known by
// added to AllowedHosts: whoever set Turn.PublicHost, ACME domains or a
// certificate already said which names clients use.
func (d *Daemon) signalConfig() signal.Config {
	c := d.cfg.Signal
	known := append([]string{d.cfg.Turn.PublicHost}, d.cfg.TLS.ACMEDomains...)
	if d.tls != nil {
		if cert := d.tls.Certificate(); cert != nil && cert.Leaf != nil {
			known = append(known, cert.Leaf.DNSNames...)
		}
	}
	hosts := append([]string{}, c.AllowedHosts...)
	for _, n := range known {
		// A name that is not a plain host name (an odd certificate
		// entry) is left out rather than failing the start.
		if n != "" && (signal.Config{AllowedHosts: []string{n}}).Validate() == nil {
			hosts = append(hosts, n)
		}
	}
	c.AllowedHosts = hosts
	return c
}

// tlsHost is the name in turns: URLs: Turn.PublicHost, else the first ACME
// domain or the certificate's first DNS name.
func (d *Daemon) tlsHost() string {
	switch {
	case d.cfg.Turn.PublicHost != "":
		return d.cfg.Turn.PublicHost
	case d.cfg.TLS.ACME():
		return d.cfg.TLS.ACMEDomains[0]
	}
	if c := d.tls.Certificate(); c != nil && c.Leaf != nil && len(c.Leaf.DNSNames) > 0 {
		return c.Leaf.DNSNames[0]
	}
	return d.relay.PublicIP().String()
}

// router builds the HTTP handler: go-zero's rest router with the JSON API
// as routes and the web app for every other path, and beside it the
// WebSocket hub at /ws and the health endpoints.
func (d *Daemon) router(hub *signal.Hub) (http.Handler, error) {
	health := http.NewServeMux()
	health.HandleFunc("GET /healthz", d.healthz)
	health.HandleFunc("GET /readyz", d.readyz)
	if hub == nil {
		// TURN-only mode: health for the load balancer or systemd, nothing else.
		return health, nil
	}
	server, err := rest.NewServer(d.cfg.RestConf, rest.WithNotFoundHandler(web.Handler()))
	if err != nil {
		return nil, err
	}
	api := hub.APIHandler()
	server.AddRoutes([]rest.Route{
		{Method: http.MethodGet, Path: "/api/v1/ice-servers", Handler: api.ServeHTTP},
		{Method: http.MethodGet, Path: "/api/v1/turn", Handler: api.ServeHTTP},
	})
	if d.cfg.Admin.Enabled() {
		admin, err := signal.NewAdmin(hub, d.cfg.Admin)
		if err != nil {
			return nil, err
		}
		routes := make([]rest.Route, 0, len(signal.AdminRoutes))
		for _, rt := range signal.AdminRoutes {
			routes = append(routes, rest.Route{Method: rt.Method, Path: rt.Path, Handler: admin.ServeHTTP})
		}
		server.AddRoutes(routes)
	}
	serverless, err := rest.NewServerless(server)
	if err != nil {
		return nil, err
	}
	// Beside go-zero's middlewares: a WebSocket lives as long as the call,
	// and go-zero would log each as a slow call and count it against MaxConns
	// for hours (the hub has its own limits, logs and metrics); health checks
	// come every few seconds and would fill the log with one line each.
	ws := hub.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ws":
			ws.ServeHTTP(w, r)
		case "/healthz", "/readyz":
			health.ServeHTTP(w, r)
		default:
			serverless.Serve(w, r)
		}
	}), nil
}

// healthz answers 200 while the process serves HTTP at all: liveness.
func (d *Daemon) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 when the node should get new clients, and 503 with the
// reason while it drains for a restart: what a load balancer polls.
func (d *Daemon) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := d.Ready(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Ready reports why the node should not take new clients, or nil.
func (d *Daemon) Ready() error {
	if d.draining.Load() {
		return errors.New("shutting down")
	}
	if d.hub != nil {
		return d.hub.Ready() // cluster mode: nil only while Redis is reachable
	}
	return nil
}

// iceURLs are the STUN and TURN URLs handed to clients, built from the
// address the relay believes it is reachable at and the port it bound.
func (d *Daemon) iceURLs() signal.ICEURLs {
	host := d.relay.PublicIP().String()
	port := strconv.Itoa(addrPort(d.relay.UDPAddr()))
	tcpPort := strconv.Itoa(addrPort(d.relay.TCPAddr()))
	hostPort := net.JoinHostPort(host, port)
	urls := signal.ICEURLs{
		STUN: []string{"stun:" + hostPort},
		TURN: []string{
			"turn:" + hostPort + "?transport=udp",
			"turn:" + net.JoinHostPort(host, tcpPort) + "?transport=tcp",
		},
	}
	// turns: by name, since browsers check the certificate against it.
	if d.turnsMux != nil {
		urls.TURN = append(urls.TURN, "turns:"+net.JoinHostPort(d.tlsHost(), strconv.Itoa(addrPort(d.turnsMux.Addr())))+"?transport=tcp")
	}
	if d.mux != nil && d.cfg.Turn.OnePort {
		urls.TURN = append(urls.TURN, "turns:"+net.JoinHostPort(d.tlsHost(), strconv.Itoa(addrPort(d.mux.Addr())))+"?transport=tcp")
	}
	return urls
}

func addrPort(a net.Addr) int {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.Port
	case *net.TCPAddr:
		return a.Port
	}
	return 0
}

// logStartup writes the one readable block an operator needs: where the
// app is, which URLs clients get, and where the relay thinks it is reachable.
func (d *Daemon) logStartup(urls signal.ICEURLs) {
	var b strings.Builder
	fmt.Fprintf(&b, "rtcd is up\n")
	if d.hub == nil {
		fmt.Fprintf(&b, "  mode:                TURN only (no web app or signaling; health at %s/healthz)\n", d.displayURL())
	} else {
		fmt.Fprintf(&b, "  web app, signaling:  %s  (WebSocket /ws, API /api/v1)\n", d.displayURL())
	}
	fmt.Fprintf(&b, "  relay listens on:    udp %s, tcp %s\n", d.relay.UDPAddr(), d.relay.TCPAddr())
	fmt.Fprintf(&b, "  relay reachable at:  %s (%s)\n", d.relay.PublicIP(), d.publicIPSource())
	all := strings.Join(append(append([]string{}, urls.STUN...), urls.TURN...), " ")
	if d.hub == nil {
		fmt.Fprintf(&b, "  TURN URLs:           %s\n", all)
		fmt.Fprintf(&b, "  credentials:         TURN REST (shared secret, realm %s)", d.relay.Realm())
	} else {
		fmt.Fprintf(&b, "  clients are given:   %s\n", all)
		fmt.Fprintf(&b, "  signaling hosts:     %s (others get 421; Signal.AllowedHosts)\n", d.hub.AllowedHosts())
		fmt.Fprintf(&b, "  signaling mode:      %s", d.cfg.Signal.Mode)
	}
	if d.issuer.Generated() {
		fmt.Fprintf(&b, "\n  TURN secret:         generated at start (not shown; set RTCD_TURN_SECRET to share it between nodes or restarts)")
	}
	if d.relay.PublicIPDetected() {
		fmt.Fprintf(&b, "\n  WARNING: Turn.PublicIP is not set, so the relay advertises %s, detected from the local interfaces."+
			"\n           A VPS behind a cloud's 1:1 NAT must set Turn.PublicIP to its public address.", d.relay.PublicIP())
	}
	logx.Info(b.String())
}

// displayURL is the app URL to show a person: a wildcard listener is shown
// as localhost, since that is what they can open on this machine.
func (d *Daemon) displayURL() string {
	tcp, ok := d.httpLn.Addr().(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return d.HTTPURL()
	}
	scheme := "http"
	if d.tls != nil {
		scheme = "https"
	}
	return fmt.Sprintf("%s://localhost:%d (all interfaces)", scheme, tcp.Port)
}

func (d *Daemon) publicIPSource() string {
	if d.relay.PublicIPDetected() {
		return "detected from interfaces"
	}
	return "configured"
}

// HTTPAddr is the bound address of the HTTP server (useful with port 0).
func (d *Daemon) HTTPAddr() net.Addr { return d.httpLn.Addr() }

// HTTPURL is the base URL of the web app and API, e.g. http://127.0.0.1:8080
// (https:// with TLS).
func (d *Daemon) HTTPURL() string {
	if d.tls != nil {
		return "https://" + d.httpLn.Addr().String()
	}
	return "http://" + d.httpLn.Addr().String()
}

// WSURL is the signaling endpoint, e.g. ws://127.0.0.1:8080/ws (wss:// with TLS).
func (d *Daemon) WSURL() string {
	if d.tls != nil {
		return "wss://" + d.httpLn.Addr().String() + "/ws"
	}
	return "ws://" + d.httpLn.Addr().String() + "/ws"
}

// TURNSAddr is the bound Turn.TLSListen address, nil when off.
func (d *Daemon) TURNSAddr() net.Addr {
	if d.turnsMux == nil {
		return nil
	}
	return d.turnsMux.Addr()
}

// TURNAddr is the relay's bound UDP address (TCP uses the same port unless
// configured otherwise).
func (d *Daemon) TURNAddr() net.Addr { return d.relay.UDPAddr() }

// Relay exposes the relay, for tests and metrics.
func (d *Daemon) Relay() *turn.Server { return d.relay }

// Hub exposes the signaling hub, for tests and metrics.
func (d *Daemon) Hub() *signal.Hub { return d.hub }

// Issuer is the TURN credential issuer of this node.
func (d *Daemon) Issuer() *auth.Issuer { return d.issuer }

// Stop drains signaling (clients are told to reconnect), stops HTTP, then
// closes the relay. It is safe to call more than once.
func (d *Daemon) Stop() {
	d.stopOnce.Do(func() {
		d.stopHTTP()
		d.relay.Stop()
		d.closeTLS()
		close(d.stopped)
	})
	<-d.stopped
}

// stopHTTP drains signaling and then plain HTTP, once.
func (d *Daemon) stopHTTP() {
	d.httpOnce.Do(d.drainHTTP)
}

func (d *Daemon) drainHTTP() {
	defer close(d.httpDown)
	d.draining.Store(true)
	if d.metrics != nil {
		prometheus.Unregister(d.metrics)
	}
	if d.hub != nil {
		d.hub.Stop()
	}
	d.closeHooks()
	d.closeSFU()
	if d.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), httpDrainTimeout)
		defer cancel()
		if err := d.httpSrv.Shutdown(ctx); err != nil {
			logx.Errorw("http shutdown", logx.Field("err", err.Error()))
		}
		<-d.served
	}
}

// Services returns the node as go-zero services, for a ServiceGroup: the
// HTTP side and the relay. go-zero stops services concurrently, so the relay
// service waits for the HTTP side to drain before it closes.
func (d *Daemon) Services() []service.Service {
	// On SIGTERM go-zero calls wrap-up listeners, waits WrapUpTime (1 s),
	// and only then stops the services, whose HTTP drain closes the port at
	// once when no WebSocket is open. Turning /readyz to 503 at the signal
	// is what lets a load balancer see the drain before the port goes away.
	proc.AddWrapUpListener(func() { d.draining.Store(true) })
	return []service.Service{httpService{d}, relayService{d}}
}

type httpService struct{ d *Daemon }

func (s httpService) Start() { <-s.d.served }
func (s httpService) Stop()  { s.d.stopHTTP() }

type relayService struct{ d *Daemon }

func (s relayService) Start() { <-s.d.stopped }
func (s relayService) Stop() {
	<-s.d.httpDown
	s.d.Stop()
}
