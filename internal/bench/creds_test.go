package bench

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v4"
)

func TestRESTPasswordVector(t *testing.T) {
	// pion lt_cred_test.go: username "1599491771", secret "foobar".
	if got := restPassword("foobar", "1599491771"); got != "Tpz/nKkyvX/vMSLKvL4sbtBt8Vs=" {
		t.Fatalf("password %q", got)
	}
}

func TestRESTCredentialsAcceptedByPion(t *testing.T) {
	user, pass := restCredentials("s3cret", "alice", time.Now().Add(time.Hour))
	if !strings.HasSuffix(user, ":alice") {
		t.Fatalf("username %q", user)
	}
	auth := pionturn.LongTermTURNRESTAuthHandler("s3cret", nil)
	key, ok := auth(user, "rtcd", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
	if !ok || !bytes.Equal(key, pionturn.GenerateAuthKey(user, "rtcd", pass)) {
		t.Fatal("pion's TURN REST verifier rejects bench credentials")
	}
}
