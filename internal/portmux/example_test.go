package portmux_test

import (
	"context"
	"log"
	"net"
	"net/http"
	"time"

	pionturn "github.com/pion/turn/v4"
	"github.com/rtcd/rtcd/internal/portmux"
	"github.com/rtcd/rtcd/internal/tlsconf"
)

// Example shows one-port mode as the daemon wires it: the certificate from
// tlsconf, HTTPS (go-zero's router) on mux.HTTP(), the relay on mux.TURN()
// with the same handlers as its other listeners, and the shutdown order.
func Example() {
	src, err := tlsconf.New(tlsconf.Config{CertFile: "/etc/rtcd/tls/fullchain.pem", KeyFile: "/etc/rtcd/tls/privkey.pem"})
	if err != nil {
		log.Print(err)
		return
	}
	defer src.Stop()

	ln, err := net.Listen("tcp", ":443")
	if err != nil {
		log.Print(err)
		return
	}
	mux := portmux.New(ln, src.TLSConfig(portmux.ProtoH2, portmux.ProtoHTTP11))
	go func() { _ = mux.Serve() }()

	var handler http.Handler // the go-zero Serverless router
	httpSrv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = httpSrv.Serve(mux.HTTP()) }()

	turnSrv, err := pionturn.NewServer(pionturn.ServerConfig{
		Realm: "rtc.example.com",
		// AuthHandler, QuotaHandler, EventHandler: the relay's own.
		ListenerConfigs: []pionturn.ListenerConfig{{
			Listener:              mux.TURN(),
			RelayAddressGenerator: &pionturn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP("203.0.113.10"), Address: "0.0.0.0"},
			// PermissionHandler: the relay's peer filter.
		}},
	})
	if err != nil {
		log.Print(err)
		return
	}

	// Shutdown: HTTP drains, the relay closes, then the shared port.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(ctx)
	_ = turnSrv.Close()
	_ = mux.Close()
}
