#!/usr/bin/env bash
# Runs the deploy/ install the way docs/deploy.md and rtcd.service do, on a
# throw-away "server": a private network namespace (loopback only) and a
# private mount namespace in which /etc/passwd, /etc/group, /etc/hosts,
# /etc/rtcd and /usr/local/bin are temporary copies. So it needs no systemd,
# and it touches nothing outside. It follows the unit's process settings:
#   User=rtcd, CAP_NET_BIND_SERVICE as the only capability, NoNewPrivileges,
#   EnvironmentFile, ExecStart=/usr/local/bin/rtcd -f /etc/rtcd/rtcd.yaml.
# The certificate comes from a throw-away CA (openssl) for rtc.example.com,
# which /etc/hosts points at 127.0.0.1 inside the namespace; clients trust
# that CA only (curl --cacert, SSL_CERT_FILE for Go), nothing runs with -k.
# It proves, with the real binary and deploy/rtcd.yaml.example:
#   - `rtcd check-config` accepts the example and refuses a public DevServer;
#   - the daemon binds 443, 80, 3478 (UDP+TCP), 5349 as the unprivileged
#     user, and the metrics port on 127.0.0.1 only;
#   - HTTPS /healthz and /readyz on 443, the :80 redirect, turns: URLs for
#     443 and 5349 in /api/v1/ice-servers;
#   - `rtcd probe https://rtc.example.com` is all green, including TURN over
#     TLS on 5349 and on 443 (one-port) and a call through the relay;
#   - coturn's turnutils_uclient -S allocates and relays over TLS on 5349 and
#     443 (when installed; it does not verify the certificate);
#   - /metrics on the loopback DevServer counts the allocations;
#   - new certificate files, installed as the certbot hook does, are served
#     on 443 and 5349 without a restart;
#   - SIGTERM: /readyz says 503 while draining, the process ends cleanly
#     within TimeoutStopSec, and no secret or credential is in the log.
#
#   deploy/smoke.sh [path/to/rtcd]   (default: builds ./cmd/rtcd)
# Exit status: 0 ok, 1 failure, 77 skipped (not root / no namespaces).
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" != 0 ] || ! unshare -n -m true 2>/dev/null; then
  echo "smoke: needs root and unshare (network + mount namespaces); skipped" >&2
  exit 77
fi
for tool in setpriv ip curl openssl ss; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool missing; skipped" >&2; exit 77; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ $# -ge 1 ]; then
  cp "$1" "$tmp/rtcd"
else
  (cd .. && go build -o "$tmp/rtcd" ./cmd/rtcd)
fi

# The unit's stop timeout, so the check follows the unit.
stop_timeout=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' rtcd.service)
[ -n "$stop_timeout" ] || { echo "smoke: no TimeoutStopSec=<n>s in rtcd.service" >&2; exit 1; }

# §3 and §7 of docs/deploy.md, into the temporary tree.
mkdir -p "$tmp/etc/rtcd" "$tmp/bin" "$tmp/var/lib/rtcd" "$tmp/var/cache/rtcd"
install -m 755 "$tmp/rtcd" "$tmp/bin/rtcd"
install -m 644 rtcd.yaml.example "$tmp/etc/rtcd/rtcd.yaml"
install -m 600 rtcd.env.example "$tmp/etc/rtcd/rtcd.env"
sed -i "s|^RTCD_TURN_SECRET=.*|RTCD_TURN_SECRET=$(openssl rand -base64 32)|; s|^RTCD_TOKEN_SECRET=.*|RTCD_TOKEN_SECRET=$(openssl rand -base64 32)|" "$tmp/etc/rtcd/rtcd.env"
cp /etc/passwd "$tmp/passwd"
cp /etc/group "$tmp/group"
if ! grep -q '^rtcd:' "$tmp/passwd"; then
  echo 'rtcd:x:64999:64999:rtcd:/var/lib/rtcd:/usr/sbin/nologin' >>"$tmp/passwd"
  echo 'rtcd:x:64999:' >>"$tmp/group"
fi
chown 64999:64999 "$tmp/var/lib/rtcd" "$tmp/var/cache/rtcd"
# The server's name, inside the namespace only.
printf '127.0.0.1 localhost rtc.example.com\n::1 localhost\n' >"$tmp/hosts"

# §6 B: certificate files readable by group rtcd, issued by a test CA.
mkdir -p "$tmp/etc/rtcd/tls" "$tmp/ca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=rtcd smoke test CA" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,digitalSignature \
  -keyout "$tmp/ca/ca.key" -out "$tmp/ca/ca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=rtc.example.com \
  -keyout "$tmp/etc/rtcd/tls/privkey.pem" -out "$tmp/ca/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:rtc.example.com\nextendedKeyUsage=serverAuth\n' >"$tmp/ca/leaf.ext"
openssl x509 -req -in "$tmp/ca/leaf.csr" -CA "$tmp/ca/ca.pem" -CAkey "$tmp/ca/ca.key" -CAcreateserial \
  -days 2 -extfile "$tmp/ca/leaf.ext" -out "$tmp/ca/leaf.pem" 2>/dev/null
cat "$tmp/ca/leaf.pem" "$tmp/ca/ca.pem" >"$tmp/etc/rtcd/tls/fullchain.pem"
chown -R 0:64999 "$tmp/etc/rtcd/tls"
chmod 750 "$tmp/etc/rtcd/tls"
chmod 640 "$tmp/etc/rtcd/tls/privkey.pem" "$tmp/etc/rtcd/tls/fullchain.pem"

cat >"$tmp/inside.sh" <<'EOF'
set -euo pipefail
tmp=$1 stop_timeout=$2
fail() { echo "smoke: $*" >&2; exit 1; }
ip link set lo up
# §3: ephemeral ports below the relay range (a per-namespace setting).
echo '32768 49151' >/proc/sys/net/ipv4/ip_local_port_range
mount --bind "$tmp/passwd" /etc/passwd
mount --bind "$tmp/group" /etc/group
mount --bind "$tmp/hosts" /etc/hosts
mkdir -p /etc/rtcd && mount --bind "$tmp/etc/rtcd" /etc/rtcd
mount --bind "$tmp/bin" /usr/local/bin

set -a; . /etc/rtcd/rtcd.env; set +a
# §7: the example as shipped, then a public DevServer, which must be refused.
/usr/local/bin/rtcd check-config -f /etc/rtcd/rtcd.yaml 2>/dev/null
sed 's/^  Host: 127.0.0.1/  Host: 0.0.0.0/' /etc/rtcd/rtcd.yaml >"$tmp/public-devserver.yaml"
if out=$(/usr/local/bin/rtcd check-config -f "$tmp/public-devserver.yaml" 2>&1); then
  fail "check-config accepted DevServer.Host 0.0.0.0"
fi
case "$out" in *DevServer.Host*) ;; *) fail "check-config refused a public DevServer without naming it: $out";; esac
echo "smoke: check-config refuses DevServer.Host 0.0.0.0: ${out##*$'\n'}"
# The edit §7 asks for: Turn.PublicIP is this server's address, which in
# the namespace is 127.0.0.1 (the example's 203.0.113.10 does not exist here).
sed -i 's/^  PublicIP: 203.0.113.10 /  PublicIP: 127.0.0.1    /' /etc/rtcd/rtcd.yaml
grep -q '^  PublicIP: 127.0.0.1 ' /etc/rtcd/rtcd.yaml || fail "could not set Turn.PublicIP"
/usr/local/bin/rtcd check-config -f /etc/rtcd/rtcd.yaml 2>/dev/null

# As systemd would start it (rtcd.service [Service]).
setpriv --reuid=rtcd --regid=rtcd --init-groups --no-new-privs \
  --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
  --bounding-set=-all,+net_bind_service \
  /usr/local/bin/rtcd -f /etc/rtcd/rtcd.yaml >"$tmp/log" 2>&1 &
pid=$!
cleanup() { kill -KILL "$pid" 2>/dev/null || true; }
trap cleanup EXIT

ca=(--cacert "$tmp/ca/ca.pem")
ok=""
for _ in $(seq 1 100); do
  if body=$(curl -fsS --max-time 2 "${ca[@]}" https://rtc.example.com/healthz 2>/dev/null); then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ok" ] || { cat "$tmp/log" >&2; fail "https://rtc.example.com/healthz never answered; log above"; }
ready=$(curl -fsS --max-time 2 "${ca[@]}" https://rtc.example.com/readyz)
[ "$ready" = ready ] || fail "/readyz says '$ready'"
echo "smoke: HTTPS on 443, certificate verified against the test CA: /healthz $body, /readyz $ready"

user=$(ps -o user= -p "$pid")
caps=$(grep CapEff "/proc/$pid/status" | awk '{print $2}')
echo "smoke: running as $user, effective capabilities $caps (0x400 = CAP_NET_BIND_SERVICE)"
[ "$user" = rtcd ] || fail "not running as rtcd"
[ "$caps" = 0000000000000400 ] || fail "capabilities are not just CAP_NET_BIND_SERVICE"

# Go shows a 0.0.0.0 listener as * (one socket for IPv4 and IPv6).
any='(0\.0\.0\.0|\*|\[::\])'
tcp=$(ss -Hltn | awk '{print $4}') udp=$(ss -Hlun | awk '{print $4}')
for port in 443 80 3478 5349; do
  grep -qE "^$any:$port\$" <<<"$tcp" || fail "nothing on tcp port $port: $(echo $tcp)"
done
grep -qE "^$any:3478\$" <<<"$udp" || fail "nothing on udp port 3478: $(echo $udp)"
grep -qxF 127.0.0.1:6060 <<<"$tcp" || fail "metrics not on 127.0.0.1:6060: $(echo $tcp)"
if grep -qE "^$any:6060\$" <<<"$tcp"; then fail "metrics port 6060 is not loopback-only"; fi
echo "smoke: listening on tcp 443, 80, 3478, 5349, udp 3478; metrics on 127.0.0.1:6060 only"

loc=$(curl -sS --max-time 2 -o /dev/null -w '%{http_code} %{redirect_url}' http://rtc.example.com/r/x)
[ "$loc" = "301 https://rtc.example.com/r/x" ] || [ "$loc" = "308 https://rtc.example.com/r/x" ] ||
  fail ":80 answers '$loc', want a redirect to https://rtc.example.com/r/x"
echo "smoke: http://rtc.example.com/r/x -> $loc"

ice=$(curl -fsS --max-time 2 "${ca[@]}" https://rtc.example.com/api/v1/ice-servers)
for u in "turns:rtc.example.com:443?transport=tcp" "turns:rtc.example.com:5349?transport=tcp" "turn:127.0.0.1:3478?transport=udp"; do
  case "$ice" in *"$u"*) ;; *) fail "ice-servers lacks $u: $ice";; esac
done
echo "smoke: ice-servers lists turn:127.0.0.1:3478 (udp, tcp), turns:rtc.example.com:5349 and :443"

# §9: the deployment checker, as an operator runs it, trusting the test CA
# through Go's SSL_CERT_FILE.
status=0
SSL_CERT_FILE="$tmp/ca/ca.pem" /usr/local/bin/rtcd probe https://rtc.example.com --timeout 60s >"$tmp/probe" 2>&1 || status=$?
sed 's/^/smoke: | /' "$tmp/probe"
[ "$status" = 0 ] || fail "rtcd probe exit status $status"
for want in "TURN rtc.example.com:5349 TLS" "TURN rtc.example.com:443 TLS" "TURN 127.0.0.1:3478 UDP" "TURN 127.0.0.1:3478 TCP" "Test call through the relay"; do
  grep -qE "^ +ok +$want " "$tmp/probe" || fail "probe: '$want' is not ok"
done
echo "smoke: rtcd probe all green: TURN over TLS on 5349 and 443 (one-port), relayed test call"

# A second, independent TURN-over-TLS client: coturn's (apt-get install coturn).
creds=$(curl -fsS --max-time 2 "${ca[@]}" 'https://rtc.example.com/api/v1/turn?service=turn')
tuser=$(sed -n 's/.*"username":"\([^"]*\)".*/\1/p' <<<"$creds")
tpass=$(sed -n 's/.*"password":"\([^"]*\)".*/\1/p' <<<"$creds")
[ -n "$tuser" ] && [ -n "$tpass" ] || fail "/api/v1/turn gave no credentials: $creds"
if command -v turnutils_uclient >/dev/null; then
  for port in 5349 443; do
    out=$(timeout 30 turnutils_uclient -t -S -p "$port" -u "$tuser" -w "$tpass" -n 1 -m 1 -l 100 -y rtc.example.com 2>&1) || true
    sent=$(sed -n 's/.*start_mclient: tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\)$/\1 \2/p' <<<"$out" | tail -1)
    if [ -z "$sent" ] || [ "${sent#* }" = 0 ] || [ "${sent% *}" != "${sent#* }" ]; then
      printf '%s\n' "$out" | tail -15 >&2
      fail "turnutils_uclient over TLS on $port relayed nothing (sent/received: '${sent:-none}')"
    fi
    echo "smoke: turnutils_uclient -S on $port: allocated and relayed ${sent% *}/${sent#* } messages over TURN/TLS"
  done
else
  echo "smoke: turnutils_uclient not installed; coturn cross-check skipped (rtcd probe covered TURN/TLS)"
fi

# §10: metrics on the loopback DevServer, after the probe's allocations.
metrics=$(curl -fsS --max-time 2 http://127.0.0.1:6060/metrics)
created=$(sed -n 's/^rtcd_turn_allocations_created_total \([0-9]*\)$/\1/p' <<<"$metrics")
bytes=$(sed -n 's/^rtcd_turn_relayed_bytes_total{direction="to_peer"} \([0-9.e+]*\)$/\1/p' <<<"$metrics")
[ -n "$created" ] && [ "$created" -ge 4 ] || fail "rtcd_turn_allocations_created_total is '$created', want >= 4"
[ -n "$bytes" ] && [ "$bytes" != 0 ] || fail "rtcd_turn_relayed_bytes_total{to_peer} is '$bytes'"
echo "smoke: /metrics on 127.0.0.1:6060: rtcd_turn_allocations_created_total $created, relayed bytes to peers $bytes"

# §6 B: a renewal as the certbot deploy hook does it (install over the old
# files) is served on 443 and 5349 without a restart.
serial() { openssl s_client -connect "127.0.0.1:$1" -servername rtc.example.com </dev/null 2>/dev/null |
  openssl x509 -noout -serial 2>/dev/null; }
old_serial=$(serial 443)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=rtc.example.com \
  -keyout "$tmp/ca/new.key" -out "$tmp/ca/new.csr" 2>/dev/null
openssl x509 -req -in "$tmp/ca/new.csr" -CA "$tmp/ca/ca.pem" -CAkey "$tmp/ca/ca.key" -CAcreateserial \
  -days 2 -extfile "$tmp/ca/leaf.ext" -out "$tmp/ca/new.pem" 2>/dev/null
cat "$tmp/ca/new.pem" "$tmp/ca/ca.pem" >"$tmp/ca/new-fullchain.pem"
new_serial=$(openssl x509 -noout -serial -in "$tmp/ca/new.pem")
[ -n "$old_serial" ] && [ "$old_serial" != "$new_serial" ] || fail "certificate serials: served '$old_serial', new '$new_serial'"
install -m 640 -o root -g rtcd "$tmp/ca/new-fullchain.pem" /etc/rtcd/tls/fullchain.pem
install -m 640 -o root -g rtcd "$tmp/ca/new.key" /etc/rtcd/tls/privkey.pem
for _ in $(seq 1 150); do  # TLS.ReloadInterval is 5 s
  [ "$(serial 443)" = "$new_serial" ] && [ "$(serial 5349)" = "$new_serial" ] && break
  sleep 0.1
done
[ "$(serial 443)" = "$new_serial" ] || fail "443 still serves $(serial 443) after the files changed, want $new_serial"
[ "$(serial 5349)" = "$new_serial" ] || fail "5349 still serves $(serial 5349) after the files changed, want $new_serial"
kill -0 "$pid" 2>/dev/null || fail "the daemon exited during the certificate reload"
curl -fsS --max-time 2 "${ca[@]}" -o /dev/null https://rtc.example.com/healthz || fail "/healthz after the reload"
echo "smoke: renewed certificate files served on 443 and 5349 without a restart ($new_serial)"

start=$(date +%s%N)
kill -TERM "$pid"
saw503=""
for _ in $(seq 1 $((stop_timeout * 10))); do
  kill -0 "$pid" 2>/dev/null || break
  if [ -z "$saw503" ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.5 "${ca[@]}" https://rtc.example.com/readyz || true)
    [ "$code" = 503 ] && saw503=$(( ($(date +%s%N) - start) / 1000000 ))
  fi
  sleep 0.05
done
if kill -0 "$pid" 2>/dev/null; then
  cat "$tmp/log" >&2
  fail "still running ${stop_timeout}s after SIGTERM (systemd would SIGKILL it)"
fi
status=0
wait "$pid" || status=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "smoke: stopped ${ms} ms after SIGTERM (exit status $status; TimeoutStopSec=${stop_timeout}s)"
# 0, or 143 when go-zero re-raised SIGTERM: both are a clean stop for systemd.
[ "$status" = 0 ] || [ "$status" = 143 ] || { cat "$tmp/log" >&2; fail "unclean exit; log above"; }
[ -n "$saw503" ] || fail "/readyz never said 503 between SIGTERM and exit"
echo "smoke: /readyz said 503 ${saw503} ms after SIGTERM, while draining"
grep -q 'rtcd stopped' "$tmp/log" || fail "no 'rtcd stopped' in the log"
for secret in "$RTCD_TURN_SECRET" "$RTCD_TOKEN_SECRET" "$tpass"; do
  if grep -qF "$secret" "$tmp/log"; then
    fail "a secret from rtcd.env or a TURN password appears in the log"
  fi
done
if grep -q 'PRIVATE KEY' "$tmp/log"; then fail "the TLS private key appears in the log"; fi
echo "smoke: no secret from rtcd.env, TURN password or private key in the log ($(wc -l <"$tmp/log") lines)"
EOF
unshare -n -m --propagation private bash "$tmp/inside.sh" "$tmp" "$stop_timeout"
echo "smoke: ok"
