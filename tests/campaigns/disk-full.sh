#!/usr/bin/env bash
# Fault campaign (run by hand, as root: it mounts a 32 MiB tmpfs): the data directory fills
# up while clients are being recorded, then space comes back. Expected: /ready answers 503
# naming the problem while the disk is full; once space is back the daemon reopens its
# catalog store by itself (log: "restarting on the same configuration to reopen the catalog
# store") and /ready answers 200 again, with the same process still running.
#
#   cargo build --release && sudo tests/campaigns/disk-full.sh [target/release/wucache]
set -euo pipefail
bin=${1:-target/release/wucache}
mnt=$(mktemp -d)
work=$(mktemp -d)
mount -t tmpfs -o size=32m tmpfs "$mnt"
pid=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
    sleep 1
    umount "$mnt" || true
    rm -rf "$work" "$mnt"
}
trap cleanup EXIT
cat > "$work/wucache.toml" <<TOML
[server]
http_listen = "127.0.0.1:18530"
[admin]
listen = "127.0.0.1:18539"
[storage]
data_dir = "$mnt/data"
[upstream]
server = "http://127.0.0.1:9"
[sync]
on_start = false
TOML
"$bin" serve --config "$work/wucache.toml" >"$work/log" 2>&1 &
pid=$!
sleep 2
ready() { curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18539/ready; }
[[ $(ready) == 200 ]] || { echo "FAIL: not ready at start"; exit 1; }

dd if=/dev/zero of="$mnt/filler" bs=1M count=64 2>/dev/null || true
groups=$(for j in $(seq 1 16); do printf 'g%.0s' $(seq 1 250); printf '%s;' "$j"; done)
action='"http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService/GetAuthorizationCookie"'
for i in $(seq 1 400); do
    body="<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><GetAuthorizationCookie xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService\"><clientId>$(cat /proc/sys/kernel/random/uuid)</clientId><targetGroupName>$groups</targetGroupName><dnsName>pc$i</dnsName></GetAuthorizationCookie></s:Body></s:Envelope>"
    curl -s -o /dev/null -H "SOAPAction: $action" -H 'Content-Type: text/xml' --data "$body" \
        http://127.0.0.1:18530/SimpleAuthWebService/SimpleAuth.asmx || true
done
sleep 12
[[ $(ready) == 503 ]] || { echo "FAIL: /ready is not 503 while the disk is full"; exit 1; }
curl -s http://127.0.0.1:18539/ready; echo

rm -f "$mnt/filler"
for _ in $(seq 1 6); do
    sleep 5
    [[ $(ready) == 200 ]] && break
done
[[ $(ready) == 200 ]] || { echo "FAIL: /ready did not come back after space was freed"; tail -20 "$work/log"; exit 1; }
kill -0 "$pid" || { echo "FAIL: the daemon exited"; exit 1; }
grep -c "reopen the catalog store" "$work/log" | sed 's/^/store reopened: /'
echo "PASS: disk full reported on /ready, recovered in-process once space came back"
