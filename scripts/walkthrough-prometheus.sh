#!/usr/bin/env bash
# A new user's path in a Prometheus shop, timed step by step, on this
# machine: the package installed, the config edited as the README says
# (with sed here), the daemon started, Prometheus scraping it with the
# packaged rules, the card network closing the connection, the alert firing.
# In lieu of the leased line: namespaces "tgw" (the gateway) and "tcn" (the
# card network) joined by a veth pair, and a persistent TCP connection with
# a heartbeat between them. Root; it installs the package and purges it at
# the end (so do not run it where linewatch is installed for real).
#   bash scripts/build-deb.sh && bash scripts/walkthrough-prometheus.sh target/debian/linewatch_0.1.0-1_amd64.deb
set -euo pipefail
deb=$(realpath "$1")
if dpkg-query -W -f='${Status}' linewatch 2>/dev/null | grep -q installed; then
  echo "linewatch is installed here: this walkthrough would replace its config; not run" >&2
  exit 1
fi
cleanup() {
  pkill -f "prometheus --config.file=/tmp/trial-prom" || true
  pkill -f "linewatch run --config /etc/linewatch/linewatch.toml" || true
  pkill -f "10.99.0.2" || true
  sleep 1
  ip netns del tgw 2>/dev/null || true
  ip netns del tcn 2>/dev/null || true
  dpkg -P linewatch >/dev/null 2>&1 || true
  rm -rf /tmp/trial-prom /tmp/trial-close
}
trap cleanup EXIT
T0=$(date +%s.%N)
step() { printf '%6.1f s  %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*"; }
step "start"
apt-get install -y -qq "$deb" >/dev/null 2>&1
step "package installed (apt install ./linewatch_0.1.0-1_amd64.deb)"
ip netns add tgw; ip netns add tcn
ip link add tlgw type veth peer name tlcn
ip link set tlgw netns tgw; ip link set tlcn netns tcn
ip -n tgw addr add 10.99.0.1/24 dev tlgw; ip -n tcn addr add 10.99.0.2/24 dev tlcn
for n in tgw tcn; do ip -n $n link set lo up; done
ip -n tgw link set tlgw up; ip -n tcn link set tlcn up
step "test network up (stands in for the leased line)"
# the config, as the README says: interface, peer, [metrics]
sed -i -e 's/^interface = "eth1"/interface = "tlgw"/' \
       -e 's/^peer = \["203.0.113.10:5000"\]/peer = ["10.99.0.2:5000"]/' \
       -e 's/^#> \[metrics\]/[metrics]/' -e 's/^#> listen = "127.0.0.1:9464"/listen = "127.0.0.1:9464"/' \
       /etc/linewatch/linewatch.toml
# the example's second link, on eth2, is not on this machine
python3 - <<'PY'
p='/etc/linewatch/linewatch.toml'
s=open(p).read()
a=s.index('# A backup line on another interface.')
b=s.index('# ---- Emitters')
open(p,'w').write(s[:a]+s[b:])
PY
linewatch check-config /etc/linewatch/linewatch.toml >/dev/null
step "config edited and checked (linewatch check-config)"
# the card network: a server that keeps the connection until told
ip netns exec tcn python3 -c '
import socket,time,os
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("10.99.0.2",5000)); s.listen(1)
c,_=s.accept()
while not os.path.exists("/tmp/trial-close"):
    try:
        c.settimeout(0.5); d=c.recv(100)
        if d: c.send(d)
    except socket.timeout: pass
c.close(); time.sleep(60)' &
sleep 0.5
rm -f /tmp/trial-close
ip netns exec tgw linewatch run --config /etc/linewatch/linewatch.toml --state-dir /var/lib/linewatch >/tmp/trial-daemon.out 2>/tmp/trial-daemon.err &
sleep 1
# our payment server: a persistent connection with a heartbeat every second
ip netns exec tgw python3 -c '
import socket,time
c=socket.create_connection(("10.99.0.2",5000))
while True:
    try: c.send(b"0800"); time.sleep(1)
    except OSError: break
time.sleep(60)' &
step "daemon running (systemctl enable --now linewatch, on a real gateway)"
rm -rf /tmp/trial-prom; mkdir -p /tmp/trial-prom
cat > /tmp/trial-prom/prometheus.yml <<YML
global: { scrape_interval: 5s, evaluation_interval: 5s }
rule_files: [ /usr/share/linewatch/contrib/prometheus/linewatch.rules.yml ]
scrape_configs:
  - job_name: linewatch
    static_configs: [ { targets: ["127.0.0.1:9464"] } ]
YML
promtool check config /tmp/trial-prom/prometheus.yml >/dev/null
ip netns exec tgw prometheus --config.file=/tmp/trial-prom/prometheus.yml --storage.tsdb.path=/tmp/trial-prom/data --web.listen-address=127.0.0.1:9090 >/dev/null 2>&1 &
step "Prometheus scraping it with contrib's rules (promtool check config passed)"
until ip netns exec tgw curl -s 127.0.0.1:9090/api/v1/query --data-urlencode 'query=linewatch_link_established' | jq -e '.data.result[0].value[1]=="1"' >/dev/null 2>&1; do sleep 0.5; done
step "first scrape: linewatch_link_established = 1"
touch /tmp/trial-close
step "the card network closes the connection (FIN)"
until ip netns exec tgw curl -s 127.0.0.1:9090/api/v1/alerts | jq -e '.data.alerts[] | select(.labels.alertname=="LinewatchLinkDown" and .state=="firing")' >/dev/null 2>&1; do sleep 0.5; done
step "LinewatchLinkDown firing in Prometheus"
grep -h '"event":"fin"\|"event":"link_down"' /tmp/trial-daemon.out | head -2
