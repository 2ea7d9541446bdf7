#!/usr/bin/env bash
# Runs the deploy/ install the way docs/deploy.md and rtcd.service do, on a
# throw-away "server": a private network namespace (loopback only) and a
# private mount namespace in which /etc/passwd, /etc/group, /etc/rtcd and
# /usr/local/bin are temporary copies. So it needs no systemd, and it touches
# nothing outside. It follows the unit's process settings:
#   User=rtcd, CAP_NET_BIND_SERVICE as the only capability, NoNewPrivileges,
#   EnvironmentFile, ExecStart=/usr/local/bin/rtcd -f /etc/rtcd/rtcd.yaml.
# Then it checks `rtcd check-config`, that the daemon binds 443 and 3478 as the
# unprivileged user, answers GET /healthz, and stops on SIGTERM within
# TimeoutStopSec.
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
sed -i "s|^RTCD_TURN_SECRET=.*|RTCD_TURN_SECRET=$(head -c 24 /dev/urandom | base64)|; s|^RTCD_TOKEN_SECRET=.*|RTCD_TOKEN_SECRET=$(head -c 24 /dev/urandom | base64)|" "$tmp/etc/rtcd/rtcd.env"
cp /etc/passwd "$tmp/passwd"
cp /etc/group "$tmp/group"
if ! grep -q '^rtcd:' "$tmp/passwd"; then
  echo 'rtcd:x:64999:64999:rtcd:/var/lib/rtcd:/usr/sbin/nologin' >>"$tmp/passwd"
  echo 'rtcd:x:64999:' >>"$tmp/group"
fi
chown 64999:64999 "$tmp/var/lib/rtcd" "$tmp/var/cache/rtcd"
# §6 B: certificate files readable by group rtcd (self-signed here).
mkdir -p "$tmp/etc/rtcd/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=rtc.example.com -addext subjectAltName=DNS:rtc.example.com \
  -keyout "$tmp/etc/rtcd/tls/privkey.pem" -out "$tmp/etc/rtcd/tls/fullchain.pem" 2>/dev/null
chown -R 0:64999 "$tmp/etc/rtcd/tls"
chmod 750 "$tmp/etc/rtcd/tls"
chmod 640 "$tmp/etc/rtcd/tls/privkey.pem" "$tmp/etc/rtcd/tls/fullchain.pem"

cat >"$tmp/inside.sh" <<'EOF'
set -euo pipefail
tmp=$1 stop_timeout=$2
ip link set lo up
mount --bind "$tmp/passwd" /etc/passwd
mount --bind "$tmp/group" /etc/group
mkdir -p /etc/rtcd && mount --bind "$tmp/etc/rtcd" /etc/rtcd
mount --bind "$tmp/bin" /usr/local/bin

set -a; . /etc/rtcd/rtcd.env; set +a
/usr/local/bin/rtcd check-config -f /etc/rtcd/rtcd.yaml

# As systemd would start it (rtcd.service [Service]).
setpriv --reuid=rtcd --regid=rtcd --init-groups --no-new-privs \
  --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
  --bounding-set=-all,+net_bind_service \
  /usr/local/bin/rtcd -f /etc/rtcd/rtcd.yaml >"$tmp/log" 2>&1 &
pid=$!

ok=""
for _ in $(seq 1 100); do
  if body=$(curl -fsS --max-time 2 -k https://127.0.0.1:443/healthz 2>/dev/null); then ok="https"; break; fi
  if body=$(curl -fsS --max-time 2 http://127.0.0.1:443/healthz 2>/dev/null); then ok="http (TLS not wired yet)"; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ok" ]; then
  echo "smoke: /healthz on :443 never answered; log:" >&2; cat "$tmp/log" >&2
  kill "$pid" 2>/dev/null || true; exit 1
fi
echo "smoke: GET /healthz on :443 over $ok: $body"
user=$(ps -o user= -p "$pid")
caps=$(grep CapEff "/proc/$pid/status" | awk '{print $2}')
echo "smoke: running as $user, effective capabilities $caps (0x400 = CAP_NET_BIND_SERVICE)"
[ "$user" = rtcd ] || { echo "smoke: not running as rtcd" >&2; exit 1; }
[ "$caps" = 0000000000000400 ] || { echo "smoke: capabilities are not just CAP_NET_BIND_SERVICE" >&2; exit 1; }
grep -qE '(^|[^0-9])3478' <(ss -lunp) || { echo "smoke: nothing on udp 3478" >&2; ss -lunp >&2; exit 1; }
echo "smoke: relay on udp/tcp 3478"
if [ "$ok" = https ]; then
  # What the example config asks for once TLS is wired (deploy.md §1).
  grep -qE ':5349\b' <(ss -ltn) || { echo "smoke: nothing on tcp 5349 (Turn.TLSListen)" >&2; exit 1; }
  loc=$(curl -sS --max-time 2 -o /dev/null -w '%{redirect_url}' -H 'Host: rtc.example.com' http://127.0.0.1:80/r/x)
  [ "$loc" = https://rtc.example.com/r/x ] || { echo "smoke: :80 redirects to '$loc'" >&2; exit 1; }
  ice=$(curl -fsS --max-time 2 -k -H 'Host: rtc.example.com' https://127.0.0.1:443/api/v1/ice-servers)
  for u in turns:rtc.example.com:443 turns:rtc.example.com:5349; do
    case "$ice" in *"$u"*) ;; *) echo "smoke: ice-servers lacks $u: $ice" >&2; exit 1;; esac
  done
  echo "smoke: turns on 5349 and 443 advertised, :80 redirects to https"
fi

start=$(date +%s%N)
kill -TERM "$pid"
status=0
for _ in $(seq 1 $((stop_timeout * 10))); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "smoke: still running ${stop_timeout}s after SIGTERM (systemd would SIGKILL it)" >&2
  kill -KILL "$pid"; cat "$tmp/log" >&2; exit 1
fi
wait "$pid" || status=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "smoke: stopped ${ms} ms after SIGTERM (exit status $status; TimeoutStopSec=${stop_timeout}s)"
# 0, or 143 when go-zero re-raised SIGTERM: both are a clean stop for systemd.
[ "$status" = 0 ] || [ "$status" = 143 ] || { echo "smoke: unclean exit; log:" >&2; cat "$tmp/log" >&2; exit 1; }
for secret in "$RTCD_TURN_SECRET" "$RTCD_TOKEN_SECRET"; do
  if grep -qF "$secret" "$tmp/log"; then
    echo "smoke: a secret from rtcd.env appears in the log" >&2; exit 1
  fi
done
echo "smoke: no secret from rtcd.env in the log"
EOF
unshare -n -m --propagation private bash "$tmp/inside.sh" "$tmp" "$stop_timeout"
echo "smoke: ok"
