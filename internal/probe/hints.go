package probe

import (
	"errors"
	"fmt"
	"strings"
)

// The hints below are for operators, in plain words, and follow the advice
// the /diag page gives (web/static/js/diag.js) so the two read alike.

func hintHTTP(err error) string {
	msg := err.Error()
	switch {
	case isRefused(err):
		return "Nothing listens at this address. Is rtcd running (systemctl status rtcd), and is its HTTP port " +
			"(Port, default 8080) open in the firewall? Behind a reverse proxy, check that the proxy is up."
	case strings.Contains(msg, "no such host"):
		return "The host name does not resolve. Check the DNS record for the deployment."
	case strings.Contains(msg, "unknown authority"):
		return "The HTTPS certificate is not from a CA this machine trusts (self-signed, or a private CA). Browsers " +
			"will refuse the page: use a public CA (TLS.ACMEDomains), or for a private CA run the probe with --ca."
	case strings.Contains(msg, "x509") || strings.Contains(msg, "certificate") || strings.Contains(msg, "tls:"):
		return "The HTTPS certificate is not valid for this name (or has expired). Browsers will refuse the page; " +
			"renew or fix the certificate (TLS.CertFile, or TLS.ACMEDomains for automatic renewal)."
	case isTimeout(err):
		return "No answer in time: a firewall drops the traffic, or the address is wrong."
	case strings.Contains(msg, "HTTP 5"):
		return "The server answered with an error. Look at rtcd's log (journalctl -u rtcd), or the reverse proxy's."
	}
	return "The web page cannot be loaded from here. Check the URL, the daemon and the firewall."
}

func hintWebSocket(err error) string {
	var st *errHTTPStatus
	if errors.As(err, &st) {
		switch st.code {
		case 403:
			return "The server refused this page origin. Open the app from the daemon's own address, or add the " +
				"origin to Signal.AllowOrigins."
		case 429:
			return "Too many open connections from this address (Signal.MaxConnsPerIP). Close other tabs or raise the limit."
		default:
			return fmt.Sprintf("The page loads but /ws answered HTTP %d instead of upgrading to a WebSocket. A reverse "+
				"proxy in front of rtcd must forward /ws with the Upgrade and Connection headers (nginx: "+
				"proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\").", st.code)
		}
	}
	if strings.Contains(err.Error(), "bad handshake") {
		return "/ws did not upgrade to a WebSocket. A reverse proxy in front of rtcd must pass the Upgrade and " +
			"Connection headers through."
	}
	return hintHTTP(err)
}

func hintHello(err error) string {
	var se *errServer
	if errors.As(err, &se) {
		switch se.code {
		case "unauthorized":
			return "The server runs in token mode: pass a valid join token (--token, made with `rtcd token`)."
		case "token_expired":
			return "The join token has expired. Issue a new one (`rtcd token --room R --user U --ttl 1h`)."
		case "throttled":
			return "Too many failed logins from this address; wait ten minutes before trying again."
		case "unsupported_version":
			return "The server speaks another protocol version: update rtcd or this probe so they match."
		}
		return "The server refused hello (" + se.code + "). Look at rtcd's log."
	}
	switch {
	case errors.Is(err, errNoTURN):
		return "The server hands out no TURN relay. Calls between people behind strict firewalls or NATs will fail; " +
			"configure Turn in rtcd.yaml."
	case errors.Is(err, errNoCredentials):
		return "TURN addresses come without credentials, so browsers cannot use the relay. Check Auth.Secrets."
	case errors.Is(err, errExpired):
		return "The server's clock is wrong, so the TURN credentials it issues are already expired. Fix the time " +
			"(timedatectl, NTP)."
	case isTimeout(err):
		return "The WebSocket opened but hello got no answer in time. Look at rtcd's log; a proxy may buffer WebSocket frames."
	}
	return "The signaling exchange failed. Look at rtcd's log."
}

func hintSTUN(err error) string {
	if isRefused(err) {
		return "Nothing listens on the STUN port (refused): the relay is not running, or Turn.Listen binds another " +
			"address or port than the one handed out."
	}
	return "The STUN server did not answer. Direct connections may still work, but open its UDP port " +
		"(Turn.Listen, default 3478) in the server's firewall and any cloud security group."
}

func hintTURN(ep endpoint, err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "401") || strings.Contains(msg, "Unauthorized"):
		return "The relay refused the credentials. The daemon and its TURN relay disagree on the secret or the clock: " +
			"check Auth.Secrets and the server time."
	case strings.Contains(msg, "486") || strings.Contains(msg, "Quota"):
		return "The relay's allocation quota is reached (Turn.MaxAllocationsPerUser, Turn.MaxAllocationsPerAddress, Turn.MaxAllocations)."
	case strings.Contains(msg, "x509") || strings.Contains(msg, "certificate") || strings.Contains(msg, "tls:"):
		return "TURN over TLS does not work: the certificate is not valid for this name, or TLS is not served on " +
			"this port. Only networks that allow nothing but HTTPS need it; fix the certificate and the TLS port."
	}
	if isRefused(err) {
		return fmt.Sprintf("Nothing accepts connections on %s (refused): the relay is not running, or Turn.Listen "+
			"(Turn.TLSListen for TLS) binds another address or port than the one handed out.", ep.addr())
	}
	switch ep.transport {
	case "UDP":
		return fmt.Sprintf("No TURN answer over UDP from %s. Open UDP port %d in the server's firewall (and any cloud "+
			"security group), and check Turn.PublicIP is the address clients can reach. Where UDP is blocked, calls "+
			"fall back to TCP/TLS.", ep.addr(), ep.port)
	case "TCP":
		return fmt.Sprintf("TURN over TCP does not work at %s. Open TCP port %d in the server's firewall; people on "+
			"networks that block UDP need it.", ep.addr(), ep.port)
	default:
		return fmt.Sprintf("TURN over TLS does not work at %s. Open TCP port %d and check the certificate; people on "+
			"networks that only allow web traffic need it.", ep.addr(), ep.port)
	}
}

func hintCall(err error) string {
	return "Relay addresses were granted, but a test call through them failed. The relay may refuse to relay " +
		"between its own addresses (Turn.DenyPeers/AllowPeers), or a firewall blocks its relay port range " +
		"(Turn.MinPort-Turn.MaxPort, UDP)."
}

func hintURL(err error) string {
	return "The server hands out an ICE server URL that clients cannot parse. Check Turn.PublicIP and Turn.Listen."
}
