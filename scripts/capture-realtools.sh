#!/usr/bin/env bash
# Capture real attack tools (nmap, masscan, hydra, dirb, hping3) and benign traffic (curl, ab,
# dig against dnsmasq, ssh) inside network namespaces this script creates, for the detector
# fidelity fixtures in tests/fixtures/realtools/ (see PROVENANCE.md there).
#
# Usage (root; Debian packages: nmap hydra masscan hping3 dirb apache2-utils dnsmasq
# openssh-server bind9-dnsutils tcpdump tshark medusa ncrack gobuster python3-pyftpdlib
# nftables wget curl; round 4: iperf3 ethtool inetutils-telnetd dovecot-imapd dovecot-pop3d
# redis-server snmpd onesixtyone, and PostgreSQL's initdb/postgres in /usr/local/bin if present):
#     scripts/capture-realtools.sh [--out DIR] [NAME ...]     (default: every capture)
#
# Why namespaces: the traffic must be real (kernel TCP stacks answering, real daemons), yet
# never leave this machine or touch its services. Everything runs in rt-* namespaces joined
# by a router namespace; only documentation addresses are used:
#
#   rt-atk  203.0.113.66            attacker          \
#   rt-cli  192.0.2.10-49           benign clients     >- br-c (rt-router: 203.0.113.1, 192.0.2.1)
#   rt-sink 203.0.113.254           router's default  /     tcpdump -s 128 runs on br-c
#   rt-srv  198.51.100.10-40        web (all), sshd (.10, .20-.29), ftp (.10), smtp (.11),
#                                   ntp + syslog sink (.12); round 4: iperf3 (.20), a UDP download
#                                   server (.22), telnetd + redis (.13), imap/pop3 (.11),
#                                   snmpd + postgres (.14)   \_ br-s (rt-router: 198.51.100.1)
#   rt-dns  198.51.100.53           dnsmasq, local records   /
#
# The NAT capture adds 192.0.2.50 to rt-cli and source-NATs (nftables) 40 inner addresses
# 192.0.2.130-169, bound on rt-cli's loopback, to it: outside rt-cli only .50 is seen.
#
# The capture point br-c sees every packet between the client side and the servers, both
# directions. The sink is the router's default route, so answers to spoofed sources
# (hping3 --rand-source) leave through br-c and are captured, then dropped by the sink.
# A temporary account (rtalice, password correct-horse) exists for the ssh session and is
# deleted on exit, with the namespaces.
set -euo pipefail

OUT="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/realtools"
if [[ "${1:-}" == "--out" ]]; then OUT="$2"; shift 2; fi
ALL=(nmap_syn_top100 nmap_connect_top100 nmap_udp_20 nmap_ping_sweep nmap_version_http_ssh
     masscan_1000 hydra_ssh hydra_http_basic hydra_http_form multistage_nmap_dirb_hydra
     hping3_flood_random_src hping3_flood_one_src
     benign_web_many_clients benign_dns_resolver benign_one_client_many_conns benign_monitor_31_sites
     benign_ssh_session nmap_slow_t1_12ports hping3_flood_closed_port nmap_xmas_top100 nmap_fin_top100 nmap_ack_top100
     v6_nmap_syn_top100 v6_nmap_ping_sweep v6_hydra_ssh v6_hydra_http_form v6_multistage_nmap_dirb_hydra v6_benign_web_dns
     nmap_null_top100 nmap_window_top100 nmap_maimon_top100 nmap_udp_top50 nmap_slow_t2_16hosts
     masscan_24_3ports nmap_sweep_then_445 hydra_ftp hydra_http_form_t1 medusa_ssh ncrack_ssh
     gobuster_dir hping3_udp_flood hping3_icmp_flood
     benign_nat_gateway benign_web_crawler benign_dns_busy benign_ntp_syslog benign_smtp
     benign_ssh_config_mgmt benign_login_typos
     nmap_ack_31hosts_3ports dns_reflection_spoofed ntp_reflection_spoofed
     benign_keepalive_dead benign_keepalive_dead_midstream benign_midstream_sessions benign_p2p_peer
     benign_poller benign_lb_health benign_smtp_inbound benign_backup_job v6_benign_poller
     hydra_ssh_pw6 hydra_ssh_pw12 hydra_ssh_pw18 hydra_ssh_pw24 hydra_ssh_pw36 hydra_ssh_pw40 hydra_ssh_pw44 hydra_ssh_pw48
     benign_iperf3_udp_3s benign_quic_download benign_rtp_call benign_lan_discovery
     benign_dns_big_answers benign_ab_short_conns benign_tcp_lossy_download
     hydra_telnet hydra_imap hydra_pop3 hydra_redis hydra_postgres onesixtyone_snmp hydra_snmp
     benign_traceroute_udp benign_traceroute_icmp benign_traceroute_tcp benign_mtr benign_tracepath
     benign_dns_dead_resolver dns_water_torture benign_happy_eyeballs benign_aria2c_mirrors
     benign_git_ssh_polling benign_ssh_controlmaster benign_udp_tunnel benign_lb_dead_member
     nmap_scanned_busy_server zmap_24_port80 benign_dead_host_retries nmap_scan_delay_10ports
     nmap_aggressive_2ports nmap_slow_t1_6ports hydra_ssh_distributed nmap_udp_31hosts_3ports)
NAMES=("$@"); [[ ${#NAMES[@]} -eq 0 ]] && NAMES=("${ALL[@]}")
[[ $(id -u) -eq 0 ]] || { echo "capture-realtools: must run as root (network namespaces)" >&2; exit 2; }
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/rt-capture.XXXXXX)
NSS=(rt-router rt-atk rt-cli rt-sink rt-srv rt-dns rt-bot1 rt-bot2 rt-bot3 rt-bot4 rt-bot5)
PIDS=()

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for n in "${NSS[@]}"; do ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null; done
  sleep 0.3
  for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null; done
  id rtalice >/dev/null 2>&1 && userdel rtalice
  rm -rf /etc/netns/rt-cli /tmp/rt-deploy-*
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inn() { local n=$1; shift; ip netns exec "$n" "$@"; }

# --- topology ------------------------------------------------------------------------------
for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; inn "$n" ip link set lo up; done
inn rt-router sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
for br in br-c br-s; do inn rt-router ip link add "$br" type bridge; inn rt-router ip link set "$br" up; done
inn rt-router ip addr add 203.0.113.1/24 dev br-c
inn rt-router ip addr add 192.0.2.1/24 dev br-c
inn rt-router ip addr add 198.51.100.1/24 dev br-s
plug() {  # plug NS BRIDGE: a veth pair, "eth0" inside NS
  local n=$1 br=$2 peer="v-${1#rt-}"
  ip link add "$peer" type veth peer name eth0 netns "$n"
  ip link set "$peer" netns rt-router
  inn rt-router ip link set "$peer" master "$br" up
  inn "$n" ip link set eth0 up
}
plug rt-atk br-c; plug rt-cli br-c; plug rt-sink br-c; plug rt-srv br-s; plug rt-dns br-s
# round 5: five more attacker namespaces (203.0.113.71-75) for distributed guessing
for b in 1 2 3 4 5; do plug "rt-bot$b" br-c; inn "rt-bot$b" ip addr add "203.0.113.7$b/24" dev eth0
  inn "rt-bot$b" ip route add default via 203.0.113.1; done
inn rt-atk ip addr add 203.0.113.66/24 dev eth0
inn rt-atk ip route add default via 203.0.113.1
inn rt-sink ip addr add 203.0.113.254/24 dev eth0
inn rt-router ip route add default via 203.0.113.254
for i in $(seq 10 49); do inn rt-cli ip addr add "192.0.2.$i/24" dev eth0; done
inn rt-cli ip route add default via 192.0.2.1 src 192.0.2.10
for i in $(seq 10 40); do inn rt-srv ip addr add "198.51.100.$i/24" dev eth0; done
inn rt-srv ip route add default via 198.51.100.1 src 198.51.100.10
inn rt-dns ip addr add 198.51.100.53/24 dev eth0
for i in 54 55 56 57; do inn rt-dns ip addr add "198.51.100.$i/24" dev eth0; done  # more resolvers (round 3)
inn rt-dns ip route add default via 198.51.100.1
# IPv6 (2001:db8::/32): static addresses without duplicate address detection, no router
# advertisements; the router forwards between 2001:db8:c::/64 (clients, attacker) and
# 2001:db8:5::/64 (servers)
for n in "${NSS[@]}"; do inn "$n" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0; done
inn rt-router sysctl -qw net.ipv6.conf.all.forwarding=1
inn rt-router ip -6 addr add 2001:db8:c::1/64 dev br-c nodad
inn rt-router ip -6 addr add 2001:db8:5::1/64 dev br-s nodad
inn rt-router ip -6 route add default via 2001:db8:c::fe
inn rt-sink ip -6 addr add 2001:db8:c::fe/64 dev eth0 nodad
inn rt-atk ip -6 addr add 2001:db8:c::66/64 dev eth0 nodad
inn rt-atk ip -6 route add default via 2001:db8:c::1
for i in $(seq 10 49); do inn rt-cli ip -6 addr add "2001:db8:c::$i/64" dev eth0 nodad; done
inn rt-cli ip -6 route add default via 2001:db8:c::1 src 2001:db8:c::10
for i in $(seq 10 40); do inn rt-srv ip -6 addr add "2001:db8:5::$i/64" dev eth0 nodad; done
inn rt-srv ip -6 route add default via 2001:db8:5::1 src 2001:db8:5::10
inn rt-dns ip -6 addr add 2001:db8:5::53/64 dev eth0 nodad
inn rt-dns ip -6 route add default via 2001:db8:5::1

# --- services ------------------------------------------------------------------------------
inn rt-srv python3 "$HERE/realtools/websrv.py" 80 & PIDS+=($!)
inn rt-srv python3 "$HERE/realtools/websrv.py" 80 :: & PIDS+=($!)
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N "" -f "$TMP/hostkey"
cat > "$TMP/sshd_config" <<CONF
ListenAddress 198.51.100.10
ListenAddress 2001:db8:5::10
HostKey $TMP/hostkey
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
PermitRootLogin no
PidFile $TMP/sshd.pid
AuthorizedKeysFile $TMP/authorized_keys
StrictModes no
$(for i in $(seq 20 29); do echo "ListenAddress 198.51.100.$i"; done)
CONF
inn rt-srv /usr/sbin/sshd -D -f "$TMP/sshd_config" & PIDS+=($!)
useradd -M -d /tmp -s /bin/sh rtalice
echo 'rtalice:correct-horse' | chpasswd
# sshd reads authorized_keys as the user: rtalice must reach it
ssh-keygen -q -t ed25519 -N "" -f "$TMP/cm_key"; cp "$TMP/cm_key.pub" "$TMP/authorized_keys"
chmod 711 "$TMP"; chmod 644 "$TMP/authorized_keys"
mkdir -p "$TMP/ftp" && echo "readme" > "$TMP/ftp/README"
inn rt-srv /usr/bin/python3 "$HERE/realtools/ftpsrv.py" 198.51.100.10 "$TMP/ftp" & PIDS+=($!)
inn rt-srv /usr/bin/python3 -W ignore -m smtpd -n -c DebuggingServer 198.51.100.11:25 >/dev/null & PIDS+=($!)
for i in 12 13 14 15 16; do inn rt-srv python3 "$HERE/realtools/udpsvc.py" serve "198.51.100.$i" & PIDS+=($!); done
# round 3: BitTorrent-like peers listen on 6881 of .10-.29 (.30-.40 refuse, .41-.50 do not exist)
inn rt-srv python3 "$HERE/realtools/tcpbusy.py" peer-serve 6881 $(for i in $(seq 10 29); do echo "198.51.100.$i"; done) & PIDS+=($!)
inn rt-dns dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root \
  --listen-address=198.51.100.53 --listen-address=2001:db8:5::53 --bind-interfaces --local=/corp.example/ \
  --listen-address=198.51.100.54 --listen-address=198.51.100.55 --listen-address=198.51.100.56 \
  --listen-address=198.51.100.57 \
  --txt-record=corp.example,"google-site-verification=rt3Xk2b9QeZp7aLmN4cVwY8sT1uJ0hG6fD5rE2iO3pA" \
  --txt-record=corp.example,"MS=ms48213377 docusign=1b0a6754-49b1-4db5-8540-d2c12664b289 atlassian-domain-verification=Z8oUd5brL6/RGUMCkxs4U0P/RyhpiNJEIVx9HXJLr3uqEQ1eDmTnj1eq1ObCgY1i" \
  --host-record=www.corp.example,198.51.100.10,2001:db8:5::10 --host-record=mail.corp.example,198.51.100.11 \
  --host-record=intranet.corp.example,198.51.100.12 --host-record=files.corp.example,198.51.100.13 \
  --host-record=git.corp.example,198.51.100.14 --txt-record=corp.example,"v=spf1 -all" \
  --mx-host=corp.example,mail.corp.example --pid-file="$TMP/dnsmasq.pid" \
  --txt-record=keys.corp.example,"$(head -c 180 /dev/zero | tr '\0' k)","$(head -c 180 /dev/zero | tr '\0' e)","$(head -c 180 /dev/zero | tr '\0' y)" \
  --txt-record=keys.corp.example,"$(head -c 200 /dev/zero | tr '\0' s)","$(head -c 200 /dev/zero | tr '\0' i)" \
  --txt-record=keys.corp.example,"$(head -c 200 /dev/zero | tr '\0' g)" & PIDS+=($!)

# --- round 4 (2026-12-05): busy benign traffic and more login services ------------------------
inn rt-srv iperf3 -s -B 198.51.100.20 -p 5201 >/dev/null & PIDS+=($!)
inn rt-srv python3 "$HERE/realtools/udpbusy.py" bulk-serve 198.51.100.22 4433 & PIDS+=($!)
inn rt-srv python3 "$HERE/realtools/udpbusy.py" inetd 198.51.100.13 23 /usr/sbin/telnetd & PIDS+=($!)
mkdir -p "$TMP/dovecot"
echo 'rtbob:{PLAIN}secret-pear::::::' > "$TMP/dovecot/users"
cat > "$TMP/dovecot/dovecot.conf" <<CONF
protocols = imap pop3
listen = 198.51.100.11
base_dir = $TMP/dovecot/run
state_dir = $TMP/dovecot/state
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = $TMP/dovecot/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$TMP/dovecot/home
}
mail_location = maildir:$TMP/dovecot/home/%u
log_path = $TMP/dovecot/log
CONF
inn rt-srv dovecot -F -c "$TMP/dovecot/dovecot.conf" & PIDS+=($!)
inn rt-srv redis-server --bind 198.51.100.13 --port 6379 --requirepass secret-pear --save "" --appendonly no \
  --dir "$TMP" --logfile "$TMP/redis.log" --daemonize no & PIDS+=($!)
printf 'agentAddress udp:198.51.100.14:161\nrocommunity s3cret-pear\n' > "$TMP/snmpd.conf"
inn rt-srv snmpd -f -Lo -C -c "$TMP/snmpd.conf" -p "$TMP/snmpd.pid" >/dev/null 2>&1 & PIDS+=($!)
if [[ -x /usr/local/bin/initdb ]]; then
  mkdir -p "$TMP/pg" && echo secret-pear > "$TMP/pg/pw" && chown -R nobody "$TMP/pg"
  runuser -u nobody -- /usr/local/bin/initdb -D "$TMP/pg/data" -U rtpg --auth=scram-sha-256 --pwfile="$TMP/pg/pw" >/dev/null
  inn rt-srv runuser -u nobody -- /usr/local/bin/postgres -D "$TMP/pg/data" -c listen_addresses=198.51.100.14 \
    -c unix_socket_directories="$TMP/pg" -c logging_collector=off >/dev/null 2>&1 & PIDS+=($!)
fi
sleep 1.5

# --- word lists (small on purpose: the fixtures stay small) ---------------------------------
python3 - "$TMP" <<'PY'
import sys
d = sys.argv[1]
common = ["123456", "password", "12345678", "qwerty", "123456789", "12345", "1234", "111111",
          "1234567", "dragon", "123123", "baseball", "abc123", "football", "monkey", "letmein",
          "696969", "shadow", "master", "666666", "qwertyuiop", "123321", "mustang", "1234567890",
          "michael", "654321", "superman", "1qaz2wsx", "7777777", "121212", "000000", "qazwsx",
          "123qwe", "killer", "trustno1", "jordan", "jennifer", "zxcvbnm", "asdfgh", "hunter",
          "buster", "soccer", "harley", "batman", "andrew", "tigger", "sunshine", "iloveyou",
          "2000", "charlie", "robert", "thomas", "hockey", "ranger", "daniel", "starwars",
          "klaster", "112233", "george", "computer"]
open(f"{d}/pw60.txt", "w").write("\n".join(common) + "\n")
words = ["admin", "login", "images", "news", "about", "backup", "cgi-bin", "config", "contact",
         "css", "data", "db", "download", "files", "include", "js", "old", "phpmyadmin",
         "private", "products", "test", "tmp", "upload", "wp-admin", "wp-login.php"]
open(f"{d}/dirs25.txt", "w").write("\n".join(words) + "\n")
more = ["account", "accounts", "api", "app", "apps", "archive", "assets", "auth", "bak", "bin",
        "blog", "cache", "cart", "catalog", "checkout", "cms", "console", "core", "cron", "dashboard",
        "debug", "demo", "dev", "docs", "error", "export", "feed", "forum", "help", "home", "img",
        "import", "index", "install", "lib", "log", "logs", "mail", "manager", "media", "member",
        "members", "misc", "mobile", "new", "panel", "phpinfo.php", "portal", "profile", "public",
        "register", "reports", "search", "secure", "server-status", "services", "setup", "shop",
        "signin", "signup", "site", "sitemap.xml", "sql", "staff", "static", "stats", "status",
        "storage", "support", "system", "temp", "templates", "themes", "tools", "user", "users",
        "vendor", "web", "webmail", "wp-content", "wp-includes", "xmlrpc.php", ".git", ".env"]
open(f"{d}/dirs110.txt", "w").write("\n".join(words + more) + "\n")
for n in (6, 12, 18, 24, 36, 40, 44, 48):
    open(f"{d}/pw{n}.txt", "w").write("\n".join(common[:n]) + "\n")
# round 3: what reflection attacks send: a DNS ANY and a TXT query for corp.example (EDNS0,
# 4096-byte buffer, as amplification tools ask), and an NTP client packet (mode 3, 48 bytes)
qname = b"\x04corp\x07example\x00"
for name, qtype in (("any", 255), ("txt", 16)):
    q = bytes.fromhex("13370100000100000000 0001".replace(" ", "")) + qname + qtype.to_bytes(2, "big") + b"\x00\x01"
    open(f"{d}/{name}.bin", "wb").write(q + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00")
open(f"{d}/ntp.bin", "wb").write(b"\x23" + bytes(47))
PY
printf '#!/bin/sh\necho correct-horse\n' > "$TMP/askpass"; chmod +x "$TMP/askpass"
printf '#!/bin/sh\necho wrong-horse\n' > "$TMP/askpass-wrong"; chmod +x "$TMP/askpass-wrong"

# --- scenarios -----------------------------------------------------------------------------
A="ip netns exec rt-atk"; C="ip netns exec rt-cli"
ATK=203.0.113.66; WEB=198.51.100.10; DNS=198.51.100.53; WEB6=2001:db8:5::10; DNS6=2001:db8:5::53

s_nmap_syn_top100()        { $A nmap -n -sS --top-ports 100 $WEB; }
s_nmap_connect_top100()    { $A nmap -n -sT --top-ports 100 $WEB; }
s_nmap_udp_20()            { $A nmap -n -sU -p 7,9,53,67,69,111,123,137,161,500,514,520,1900,4500,5060,5353,11211,1434,33434,49152 $DNS; }
s_nmap_ping_sweep()        { $A nmap -n -sn 198.51.100.0/24; }
s_nmap_version_http_ssh()  { $A nmap -n -sV -p 22,80 $WEB; }
# masscan 1.3.2 does not exit after --wait inside a namespace (its receive thread keeps
# polling): timeout ends it 5 s after the last SYN would have been sent (1000 at 300/s)
s_masscan_1000()           { timeout -s INT 12 $A masscan $WEB -p1-1000 --rate 300 --wait 3 2>/dev/null || true; }
s_hydra_ssh()              { $A hydra -l admin -P "$TMP/pw60.txt" -t 4 -I ssh://$WEB; }
s_hydra_http_basic()       { $A hydra -l admin -P "$TMP/pw60.txt" -t 4 -I http-get://$WEB/admin; }
s_hydra_http_form()        { $A hydra -l admin -P "$TMP/pw60.txt" -t 4 -I $WEB http-post-form "/login:user=^USER^&pass=^PASS^:F=invalid"; }
s_multistage_nmap_dirb_hydra() {
  $A nmap -n -sS -p 80,443 198.51.100.0/24
  for i in $(seq 10 40); do $A dirb "http://198.51.100.$i/" "$TMP/dirs25.txt" -r -S >/dev/null; done
  $A hydra -l admin -P "$TMP/pw60.txt" -t 4 -I $WEB http-post-form "/login:user=^USER^&pass=^PASS^:F=invalid"
}
s_hping3_flood_random_src() { $A hping3 -q -S -p 80 --rand-source -c 3000 -i u1000 $WEB || true; }
s_hping3_flood_one_src()    { $A hping3 -q -S -p 80 -c 3000 -i u1000 $WEB || true; }
s_nmap_xmas_top100()       { $A nmap -n -sX --top-ports 100 $WEB; }
s_nmap_fin_top100()        { $A nmap -n -sF --top-ports 100 $WEB; }
s_nmap_ack_top100()        { $A nmap -n -sA --top-ports 100 $WEB; }
s_nmap_slow_t1_12ports()   { $A nmap -n -sS -T1 -Pn -p 21,22,23,25,53,80,110,143,443,445,3306,8080 $WEB; }
s_hping3_flood_closed_port() { $A hping3 -q -S -p 8080 -c 1500 -i u1000 $WEB || true; }
s_v6_nmap_syn_top100()     { $A nmap -6 -n -sS --top-ports 100 $WEB6; }
s_v6_nmap_ping_sweep()     { $A nmap -6 -n -sn 2001:db8:5::/120; }
s_v6_hydra_ssh()           { $A hydra -6 -l admin -P "$TMP/pw60.txt" -t 4 -I "ssh://[$WEB6]"; }
s_v6_hydra_http_form()     { $A hydra -6 -l admin -P "$TMP/pw60.txt" -t 4 -I $WEB6 http-post-form "/login:user=^USER^&pass=^PASS^:F=invalid"; }
s_v6_multistage_nmap_dirb_hydra() {
  $A nmap -6 -n -sS -p 80,443 2001:db8:5::/120
  for i in $(seq 10 40); do $A dirb "http://[2001:db8:5::$i]/" "$TMP/dirs25.txt" -r -S >/dev/null; done
  $A hydra -6 -l admin -P "$TMP/pw60.txt" -t 4 -I $WEB6 http-post-form "/login:user=^USER^&pass=^PASS^:F=invalid"
}
s_v6_benign_web_dns() {  # 30 IPv6 clients: resolve www.corp.example (AAAA), then fetch pages
  local pids=()
  for i in $(seq 10 39); do
    ( $C dig +short +tries=1 +time=2 -b "2001:db8:c::$i" "@$DNS6" www.corp.example AAAA >/dev/null
      for k in 0 1 2 3; do
        $C curl -s -o /dev/null --interface "2001:db8:c::$i" "http://[$WEB6]/$(( (i + k) % 2 )).html" || true
        $C curl -s -o /dev/null --interface "2001:db8:c::$i" "http://[$WEB6]/news"
        sleep 0.$(( (i * 7 + k * 3) % 10 ))
      done ) & pids+=($!)
  done
  wait "${pids[@]}"
}
s_benign_web_many_clients() {
  local pages=(/ /news /about /products /contact /images/logo.png /login /favicon.ico /index.html /news)
  local pids=()  # a bare wait would also wait for tcpdump and the daemons
  for i in $(seq 10 39); do
    ( for k in 0 1 2 3 4 5 6 7; do
        $C curl -s -o /dev/null --interface "192.0.2.$i" "http://$WEB${pages[$(( (i + k) % 10 ))]}"
        sleep 0.$(( (i * 7 + k * 3) % 10 ))
      done ) & pids+=($!)
  done
  $C ab -q -n 200 -c 5 -B 192.0.2.40 "http://$WEB/news" >/dev/null
  $C ab -q -n 100 -c 2 -B 192.0.2.41 "http://198.51.100.11/products" >/dev/null
  wait "${pids[@]}"
}
s_benign_dns_resolver() {
  local names=(www.corp.example mail.corp.example intranet.corp.example files.corp.example
               git.corp.example printer.corp.example corp.example wiki.corp.example)
  local pids=()
  for i in $(seq 10 39); do
    ( for k in 0 1 2 3 4 5; do
        n=${names[$(( (i + k) % 8 ))]}
        $C dig +short +tries=1 +time=2 -b "192.0.2.$i" "@$DNS" "$n" A >/dev/null
        [[ $k -eq 2 ]] && $C dig +short +tries=1 +time=2 -b "192.0.2.$i" "@$DNS" corp.example MX >/dev/null
        sleep 0.$(( (i * 3 + k * 7) % 10 ))
      done ) & pids+=($!)
  done
  wait "${pids[@]}"
}
s_benign_one_client_many_conns() {
  $C ab -q -n 400 -c 8 -B 192.0.2.10 "http://$WEB/news" >/dev/null
}
s_benign_monitor_31_sites() {  # an uptime monitor / link checker: the home page of 31 web servers
  for i in $(seq 10 40); do $C curl -s -o /dev/null --interface 192.0.2.12 "http://198.51.100.$i/"; done
}
s_benign_ssh_session() {
  local ssh_opts=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
                  -o PubkeyAuthentication=no -o PreferredAuthentications=password -o NumberOfPasswordPrompts=1)
  SSH_ASKPASS_REQUIRE=force SSH_ASKPASS="$TMP/askpass-wrong" $C setsid -w ssh "${ssh_opts[@]}" -b 192.0.2.20 rtalice@$WEB true </dev/null || true
  for k in 1 2 3; do
    SSH_ASKPASS_REQUIRE=force SSH_ASKPASS="$TMP/askpass" $C setsid -w ssh "${ssh_opts[@]}" -b 192.0.2.20 rtalice@$WEB "uname -a; ls -la /etc | head -40; sleep $k" </dev/null >/dev/null
  done
}

# --- round 2 (2026-12-04): other scan types, slow and wide scans, other guessing tools and
# services, floods, and busy benign traffic ---------------------------------------------------
s_nmap_null_top100()       { $A nmap -n -sN --top-ports 100 $WEB; }
s_nmap_window_top100()     { $A nmap -n -sW --top-ports 100 $WEB; }
s_nmap_maimon_top100()     { $A nmap -n -sM --top-ports 100 $WEB; }
s_nmap_udp_top50()         { $A nmap -n -sU --top-ports 50 $WEB; }
s_nmap_slow_t2_16hosts()   { $A nmap -n -sS -T2 -Pn -p 22,80,443,3389 198.51.100.8-23; }
s_masscan_24_3ports()      { timeout -s INT 10 $A masscan 198.51.100.0/24 -p22,80,443 --rate 300 --wait 3 2>/dev/null || true; }
s_nmap_sweep_then_445() {  # find the live hosts, then probe one port on each of them
  $A nmap -n -sn 198.51.100.0/24 -oG - | awk '/Status: Up/{print $2}' > "$TMP/live.txt"
  $A nmap -n -Pn -sS -p 445 -iL "$TMP/live.txt"
}
s_hydra_ftp()              { $A hydra -l admin -P "$TMP/pw60.txt" -t 4 -I ftp://$WEB; }
s_hydra_http_form_t1()     { $A hydra -l admin -P "$TMP/pw60.txt" -t 1 -I $WEB http-post-form "/login:user=^USER^&pass=^PASS^:F=invalid"; }
s_medusa_ssh()             { $A medusa -h $WEB -u admin -P "$TMP/pw60.txt" -M ssh -t 2 || true; }
s_ncrack_ssh()             { $A ncrack --user admin -P "$TMP/pw60.txt" ssh://$WEB || true; }
s_gobuster_dir()           { $A gobuster dir -q -z -t 10 -u "http://$WEB/" -w "$TMP/dirs110.txt" >/dev/null || true; }
s_hping3_udp_flood()       { $A hping3 -q --udp -p 9 -c 12000 -i u50 $WEB || true; }
s_hping3_icmp_flood()      { $A hping3 -q --icmp -c 6000 -i u100 $WEB || true; }
s_benign_nat_gateway() {  # 40 inner clients behind one address: DNS, web pages on several sites, NTP
  $C ip addr add 192.0.2.50/24 dev eth0
  for i in $(seq 130 169); do $C ip addr add "192.0.2.$i/32" dev lo; done
  $C nft add table ip rtnat
  $C nft add chain ip rtnat post '{ type nat hook postrouting priority 100 ; }'
  $C nft add rule ip rtnat post ip saddr 192.0.2.128/26 oif eth0 snat to 192.0.2.50
  local pages=(/ /news /about /products /contact /docs/ /docs/3.html /images/logo.png /missing.css /login)
  local names=(www.corp.example mail.corp.example intranet.corp.example git.corp.example wpad.corp.example
               files.corp.example www.corp.example.corp.example)
  local pids=()
  for i in $(seq 130 169); do
    ( $C dig +short +tries=1 +time=2 -b "192.0.2.$i" "@$DNS" "${names[$(( i % 7 ))]}" A >/dev/null
      $C dig +short +tries=1 +time=2 -b "192.0.2.$i" "@$DNS" "${names[$(( (i + 3) % 7 ))]}" A >/dev/null
      for k in 0 1 2 3 4 5; do
        srv=198.51.100.$(( 10 + (i * 7 + k * 11) % 31 ))
        # a third of the clients try https first (closed here: refused), then fall back to http
        [[ $(( (i + k) % 3 )) -eq 0 ]] && { $C curl -s -o /dev/null --max-time 2 --interface "192.0.2.$i" "https://$srv/" || true; }
        $C curl -s -o /dev/null -o /dev/null --interface "192.0.2.$i" "http://$srv${pages[$(( (i + k) % 10 ))]}" "http://$srv/"
        sleep 0.$(( (i * 7 + k * 3) % 10 ))
      done
      [[ $(( i % 4 )) -eq 0 ]] && $C python3 "$HERE/realtools/udpsvc.py" client "192.0.2.$i" 198.51.100.12 2 0
    ) & pids+=($!)
  done
  wait "${pids[@]}"
  $C nft delete table ip rtnat
  for i in $(seq 130 169); do $C ip addr del "192.0.2.$i/32" dev lo; done
  $C ip addr del 192.0.2.50/24 dev eth0
}
s_benign_web_crawler() {  # wget -r: one site's manual, then the front pages of 20 sites (robots.txt honoured)
  $C wget -q -r -l 3 -np -nd --delete-after --bind-address=192.0.2.13 -P "$TMP/crawl" "http://$WEB/docs/" || true
  for i in $(seq 11 30); do echo "http://198.51.100.$i/"; done > "$TMP/sites.txt"
  $C wget -q -r -l 1 -nd --delete-after --bind-address=192.0.2.13 -P "$TMP/crawl" -i "$TMP/sites.txt" || true
}
s_benign_dns_busy() {  # 40 clients, 15 queries each in one dig batch: search-list misses (NXDOMAIN), AAAA, MX
  local pids=()
  for i in $(seq 10 49); do
    for n in www mail intranet files git printer wiki www.corp.example vpn; do
      echo "$n.corp.example A"; done > "$TMP/q$i.txt"
    printf '%s
' "www.corp.example AAAA" "corp.example MX" "corp.example TXT" "git.corp.example AAAA" \
      "ldap._tcp.corp.example SRV" "_kerberos._udp.corp.example SRV" >> "$TMP/q$i.txt"
    ( sleep 0.$(( i % 10 )); $C dig +short +tries=1 +time=2 -b "192.0.2.$i" "@$DNS" -f "$TMP/q$i.txt" >/dev/null ) & pids+=($!)
  done
  wait "${pids[@]}"
}
s_benign_ntp_syslog() {  # 40 hosts: NTP queries (ntpd style from port 123, or ephemeral) and syslog to one collector
  local pids=()
  for i in $(seq 10 49); do
    $C python3 "$HERE/realtools/udpsvc.py" client "192.0.2.$i" 198.51.100.12 6 $(( i % 2 ? 123 : 0 )) & pids+=($!)
  done
  wait "${pids[@]}"
}
s_benign_smtp() {  # 30 clients send a mail each; one application server relays 20 notifications
  local pids=()
  for i in $(seq 10 39); do
    printf 'Subject: report %s\n\n%s\n' "$i" "$(head -c $(( 200 + i * 37 )) /dev/zero | tr '\0' x)" > "$TMP/mail$i.txt"
    ( sleep 0.$(( i % 10 )); $C curl -s --interface "192.0.2.$i" "smtp://198.51.100.11" --mail-from "u$i@corp.example" \
        --mail-rcpt "boss@corp.example" -T "$TMP/mail$i.txt" ) & pids+=($!)
  done
  wait "${pids[@]}"
  for k in $(seq 1 20); do
    printf 'Subject: [app] order %s shipped\n\nYour order %s has shipped.\n' "$((1000 + k))" "$((1000 + k))" > "$TMP/note.txt"
    $C curl -s --interface 192.0.2.45 "smtp://198.51.100.11" --mail-from "noreply@corp.example" \
      --mail-rcpt "customer$k@corp.example" -T "$TMP/note.txt"
    sleep 0.$(( k * 3 % 10 ))
  done
}
s_benign_ssh_config_mgmt() {  # a config-management host: three rounds of key-authenticated commands on 10 servers
  local opts=(-F /dev/null -i "$TMP/cm_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes)
  for cmd in "uname -a" "df -h; uptime" "cat /etc/os-release; ls -la /etc | head -20"; do
    for i in $(seq 20 29); do $C ssh "${opts[@]}" -b 192.0.2.30 "rtalice@198.51.100.$i" "$cmd" </dev/null >/dev/null; done
  done
}
s_benign_login_typos() {  # five users mistype their ssh password twice, then log in; three do the same on ftp
  local ssh_opts=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
                  -o PubkeyAuthentication=no -o PreferredAuthentications=password -o NumberOfPasswordPrompts=1)
  for i in 21 22 23 24 25; do
    for pass in askpass-wrong askpass-wrong askpass; do
      SSH_ASKPASS_REQUIRE=force SSH_ASKPASS="$TMP/$pass" $C setsid -w ssh "${ssh_opts[@]}" -b "192.0.2.$i" rtalice@$WEB "uptime" </dev/null >/dev/null || true
    done
  done
  for i in 26 27 28; do
    for pass in wrong-horse wrong-horse correct-horse; do
      $C curl -s --interface "192.0.2.$i" "ftp://rtbob:$pass@$WEB/README" -o /dev/null || true
    done
  done
}

# --- round 3 (2026-12-05): ACK scans across hosts, spoofed reflection, benign traffic that
# looks busy (dead keepalive connections, captures started mid-connection, a P2P peer, a
# monitoring poller, load-balancer health checks, inbound mail, a backup job, IPv6 polling),
# and hydra ssh with few guesses ---------------------------------------------------------------
VIC=192.0.2.49  # the spoofed victim of the reflection attacks (an rt-cli address)
s_nmap_ack_31hosts_3ports() { $A nmap -n -Pn -sA -p 22,80,443 198.51.100.10-40; }
s_dns_reflection_spoofed() {  # 5 resolvers, 1000 queries/s each (300 ANY, then 300 TXT), with the victim's address as source
  local pids=()
  for q in any txt; do
    for r in 53 54 55 56 57; do
      $A hping3 -q --udp -a $VIC -s 20000 -p 53 -d "$(stat -c %s "$TMP/$q.bin")" -E "$TMP/$q.bin" -c 300 -i u1000 "198.51.100.$r" 2>/dev/null & pids+=($!)
    done
    wait "${pids[@]}" || true; pids=()
  done
}
s_ntp_reflection_spoofed() {  # 5 NTP servers (udpsvc.py, mode 3 -> mode 4), 1000 queries/s each (1000), spoofed
  local pids=()
  for r in 12 13 14 15 16; do
    $A hping3 -q --udp -a $VIC -s 123 -k -p 123 -d 48 -E "$TMP/ntp.bin" -c 1000 -i u1000 "198.51.100.$r" 2>/dev/null & pids+=($!)
  done
  wait "${pids[@]}" || true
}
ka_forget() {  # the servers forget 192.0.2.31's connections silently (their RSTs dropped), as a reboot or a lost firewall state does
  inn rt-srv nft add table inet rtka
  inn rt-srv nft add chain inet rtka out '{ type filter hook output priority 0 ; }'
  inn rt-srv nft add rule inet rtka out ip daddr 192.0.2.31 tcp flags '&' rst == rst drop
  inn rt-srv ss -K dst 192.0.2.31 >/dev/null
  sleep 0.5
  inn rt-srv nft delete table inet rtka
}
s_benign_keepalive_dead() {  # 31 idle keepalive connections (port 80 of .10-.40); the servers forget them; each probe meets a RST
  # (connecting takes ~3 s: the web server's accept queue of 5 drops SYNs, retried after 1 s)
  $C python3 "$HERE/realtools/tcpbusy.py" hold 192.0.2.31 80 18 $(for i in $(seq 10 40); do echo "198.51.100.$i"; done) & local p=$!
  sleep 7; ka_forget; wait $p
}
pre_benign_keepalive_dead_midstream() {
  $C python3 "$HERE/realtools/tcpbusy.py" hold 192.0.2.31 80 20 $(for i in $(seq 10 40); do echo "198.51.100.$i"; done) & KA_PID=$!
  sleep 7
}
s_benign_keepalive_dead_midstream() { ka_forget; wait "$KA_PID"; }
MID_PIDS=()
pre_benign_midstream_sessions() {  # 10 ssh sessions printing a line a second, opened 3 s before the capture
  local opts=(-F /dev/null -i "$TMP/cm_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes)
  MID_PIDS=()
  for i in $(seq 20 29); do
    $C ssh "${opts[@]}" -b 192.0.2.36 "rtalice@198.51.100.$i" 'for k in $(seq 1 25); do date; ls -la /etc | head -5; sleep 1; done' </dev/null >/dev/null & MID_PIDS+=($!)
  done
  $C ssh "${opts[@]}" -b 2001:db8:c::36 "rtalice@2001:db8:5::10" 'for k in $(seq 1 25); do date; sleep 1; done' </dev/null >/dev/null & MID_PIDS+=($!)
  sleep 3
}
s_benign_midstream_sessions() { wait "${MID_PIDS[@]}" || true; }
s_benign_p2p_peer() {  # one peer dials 41 peers over 20 s: 20 answer, 11 refuse, 10 do not exist; DHT pings to each
  $C python3 "$HERE/realtools/tcpbusy.py" peer 192.0.2.32 6881 20 $(for i in $(seq 10 50); do echo "198.51.100.$i"; done)
}
poll_round() {  # a Nagios-style round from $1: ping, HTTP on every host; ssh/smtp/ftp banners; DNS, NTP; https on two hosts (down)
  local src=$1
  for i in $(seq 10 40); do
    $C ping -c 1 -W 1 -I "$src" "198.51.100.$i" >/dev/null || true
    $C curl -s -o /dev/null --max-time 2 --interface "$src" "http://198.51.100.$i/" || true
  done
  for hp in 198.51.100.10:22 $(for i in $(seq 20 29); do echo "198.51.100.$i:22"; done) 198.51.100.11:25 198.51.100.10:21; do
    $C timeout 3 python3 -c 'import socket,sys; h,p=sys.argv[2].split(":"); s=socket.create_connection((h,int(p)),2,(sys.argv[1],0)); s.recv(256); s.close()' "$src" "$hp" || true
  done
  for hp in 198.51.100.10:443 198.51.100.11:443; do
    $C timeout 3 python3 -c 'import socket,sys; h,p=sys.argv[2].split(":"); socket.create_connection((h,int(p)),2,(sys.argv[1],0))' "$src" "$hp" 2>/dev/null || true
  done
  $C dig +short +tries=1 +time=2 -b "$src" "@$DNS" www.corp.example A >/dev/null
  $C python3 "$HERE/realtools/udpsvc.py" client "$src" 198.51.100.12 1 0
}
s_benign_poller() { for r in 1 2 3; do poll_round 192.0.2.33; [[ $r -lt 3 ]] && sleep 30; done; }
s_benign_lb_health() {  # a load balancer checks 10 backends every 2 s for 30 s (GET /); .39's service is down (port 8080 refused)
  local pids
  for r in $(seq 1 15); do
    pids=()
    for i in $(seq 30 38); do $C curl -s -o /dev/null --max-time 1 --interface 192.0.2.34 "http://198.51.100.$i/" & pids+=($!); done
    $C curl -s -o /dev/null --max-time 1 --interface 192.0.2.34 "http://198.51.100.39:8080/" & pids+=($!)
    wait "${pids[@]}" || true; sleep 2
  done
}
s_benign_smtp_inbound() {  # 40 senders, three mails each, to one mail server
  local pids=()
  for i in $(seq 10 49); do
    printf 'Subject: hello %s\n\n%s\n' "$i" "$(head -c $(( 300 + i * 53 )) /dev/zero | tr '\0' y)" > "$TMP/in$i.txt"
    ( for k in 1 2 3; do
        $C curl -s --interface "192.0.2.$i" "smtp://198.51.100.11" --mail-from "s$i@example.org" --mail-rcpt "staff$k@corp.example" -T "$TMP/in$i.txt"
        sleep 0.$(( (i + k) % 10 ))
      done ) & pids+=($!)
  done
  wait "${pids[@]}"
}
s_benign_backup_job() {  # a backup host pulls 1 MB from each of 10 servers over ssh (key authentication)
  local opts=(-F /dev/null -i "$TMP/cm_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes)
  for i in $(seq 20 29); do $C ssh "${opts[@]}" -b 192.0.2.35 "rtalice@198.51.100.$i" 'head -c 1000000 /dev/urandom' </dev/null >/dev/null; done
}
s_v6_benign_poller() {  # the poller over IPv6: ping6 and HTTP on 31 servers, the ssh banner, DNS
  local src=2001:db8:c::37
  for i in $(seq 10 40); do
    $C ping -6 -c 1 -W 1 -I "$src" "2001:db8:5::$i" >/dev/null || true
    $C curl -s -o /dev/null --max-time 2 --interface "$src" "http://[2001:db8:5::$i]/" || true
  done
  $C timeout 3 python3 -c 'import socket; s=socket.create_connection(("2001:db8:5::10",22),2,("2001:db8:c::37",0)); s.recv(256); s.close()' || true
  $C dig +short +tries=1 +time=2 -b "$src" "@$DNS6" www.corp.example AAAA >/dev/null
}

# --- round 4 (2026-12-05): busy benign traffic against the volumetric rules, and more login
# services. Offloads off on the veths first, so the capture sees wire-sized segments, as an
# exporter on a NIC would (GSO would hand the bridge 64 KB super-segments).
no_offload() {
  local n
  for n in rt-cli rt-srv rt-dns rt-atk; do inn "$n" ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1 || true; done
  for n in v-cli v-srv v-dns v-atk; do inn rt-router ethtool -K "$n" tso off gso off gro off >/dev/null 2>&1 || true; done
}
declare -A SNAP=([benign_iperf3_tcp]=96 [benign_iperf3_udp]=42 [benign_quic_download]=42 [benign_ab_short_conns]=66
                 [benign_tcp_lossy_download]=66 [benign_dns_big_answers]=96
                 [benign_rtp_call]=54)
pre_benign_iperf3_tcp() { no_offload; }
s_benign_iperf3_tcp() {  # a throughput test: 4 parallel TCP streams, 5 Mbit/s each, 1 s
  $C iperf3 -c 198.51.100.20 -p 5201 -B 192.0.2.14 -P 4 -b 5M -t 1 >/dev/null
}
pre_benign_iperf3_udp() { no_offload; }
s_benign_iperf3_udp() {  # a UDP throughput test: 2 streams, 9 MB of 1200-byte datagrams at 64 Mbit/s in all
  $C iperf3 -c 198.51.100.20 -p 5201 -B 192.0.2.15 -u -P 2 -b 32M -l 1200 -n 9000K >/dev/null
}
# the same for 3 s (kept: its first 1.85 s, PROVENANCE.md; a documented limit, docs/detectors.md)
pre_benign_iperf3_udp_3s() { no_offload; }
s_benign_iperf3_udp_3s() { $C iperf3 -c 198.51.100.20 -p 5201 -B 192.0.2.15 -u -P 2 -b 32M -l 1200 -t 3 >/dev/null; }
SNAP[benign_iperf3_udp_3s]=42
pre_benign_quic_download() { no_offload; }
s_benign_quic_download() {  # a QUIC-like download: 15000 1200-byte datagrams at 6000/s, an ACK every second one
  $C python3 "$HERE/realtools/udpbusy.py" bulk-get 192.0.2.16 198.51.100.22 4433 15000 6000
}
s_benign_rtp_call() {  # two calls (G.711, 50 pps each way) for 6 s, media on even ports 16384+
  $C python3 "$HERE/realtools/udpbusy.py" rtp 192.0.2.17 16384 198.51.100.23 20000 6 &
  local a=$!
  inn rt-srv python3 "$HERE/realtools/udpbusy.py" rtp 198.51.100.23 20000 192.0.2.17 16384 6 &
  local b=$!
  $C python3 "$HERE/realtools/udpbusy.py" rtp 192.0.2.18 16386 198.51.100.24 20002 6 &
  local c=$!
  inn rt-srv python3 "$HERE/realtools/udpbusy.py" rtp 198.51.100.24 20002 192.0.2.18 16386 6
  wait $a $b $c
}
s_benign_lan_discovery() {  # 40 devices announce (mDNS, SSDP NOTIFY, LAN-sync broadcast); one M-SEARCH answered by all
  $C python3 "$HERE/realtools/udpbusy.py" discovery $(for i in $(seq 10 49); do echo "192.0.2.$i"; done) --querier 192.0.2.10
}
s_benign_dns_big_answers() {  # 40 clients ask for big TXT records (1.3 KB answers); a forwarder 192.0.2.45 spreads 400 over 5 resolvers
  local pids=() i k
  for i in $(seq 10 44); do
    ( for k in 1 2 3 4 5; do $C dig +short +tries=1 +time=2 +bufsize=4096 -b "192.0.2.$i" "@$DNS" keys.corp.example TXT >/dev/null; done ) & pids+=($!)
  done
  for k in 53 54 55 56 57; do
    ( for _ in $(seq 1 80); do echo "keys.corp.example TXT"; done > "$TMP/fwd$k.txt"
      $C dig +tries=1 +time=2 +bufsize=4096 -b 192.0.2.45 "@198.51.100.$k" -f "$TMP/fwd$k.txt" >/dev/null ) & pids+=($!)
  done
  wait "${pids[@]}"
}
pre_benign_ab_short_conns() { no_offload; }
s_benign_ab_short_conns() {  # a load test: 500 HTTP/1.0 requests, 40 at a time, one connection each
  $C ab -q -n 500 -c 40 -B 192.0.2.19 "http://198.51.100.25/news" >/dev/null
}
# the kernel here has no netem: nftables in rt-cli drops 4% of the server's segments at random
# after the capture point, so the capture holds each lost segment and its retransmission
pre_benign_tcp_lossy_download() {
  no_offload
  inn rt-cli nft -f - <<'NFT'
table inet rtloss {
  chain input { type filter hook input priority 0; ip saddr 198.51.100.20 tcp sport 5201 numgen random mod 100 < 4 drop; }
}
NFT
}
s_benign_tcp_lossy_download() {  # 1 MB over a path losing 4% of the server's segments: retransmissions
  $C iperf3 -c 198.51.100.20 -p 5201 -B 192.0.2.20 -R -n 1M >/dev/null || true
  inn rt-cli nft delete table inet rtloss || true
}
# each login run is bounded: hydra's telnet module waits for prompts inetutils' login does not
# repeat after a failure (some connections sat 70 s), so a run can outlast the capture budget
s_hydra_telnet()   { timeout -s INT 300 $A hydra -l admin -P "$TMP/pw24.txt" -t 4 -I telnet://198.51.100.13 || true; }
s_hydra_imap()     { timeout -s INT 200 $A hydra -l rtbob -P "$TMP/pw60.txt" -t 4 -I imap://198.51.100.11 || true; }
s_hydra_pop3()     { timeout -s INT 200 $A hydra -l rtbob -P "$TMP/pw60.txt" -t 4 -I pop3://198.51.100.11 || true; }
s_hydra_redis()    { timeout -s INT 60 $A hydra -P "$TMP/pw60.txt" -t 4 -I redis://198.51.100.13 || true; }
s_hydra_postgres() { timeout -s INT 60 $A hydra -l rtpg -P "$TMP/pw60.txt" -t 4 -I postgres://198.51.100.14 || true; }
s_onesixtyone_snmp() { printf '%s\n' public private community manager admin cisco snmp monitor secret write \
                         read test default router switch network > "$TMP/communities.txt"
                       timeout 30 $A onesixtyone -c "$TMP/communities.txt" 198.51.100.14 || true; }
s_hydra_snmp()     { timeout -s INT 60 $A hydra -P "$TMP/pw60.txt" -t 4 -I snmp://198.51.100.14 || true; }

# --- round 5 (2026-12-05): benign traffic a CSIRT sees daily that looks like scans or floods
# (path tracing, resolver retries, happy eyeballs, parallel downloads, bursts of ssh automation,
# a tunnel, dead hosts and dead pool members, a busy server being scanned), and slow, quiet or
# distributed attacks. 198.51.100.40 is firewalled for this round's path traces (UDP and ICMP
# echo dropped in rt-srv, as a host behind a filtering firewall); .45-.47 do not exist.
fw40_on() {
  inn rt-srv nft add table inet rtfw
  inn rt-srv nft add chain inet rtfw in '{ type filter hook input priority 0 ; }'
  inn rt-srv nft add rule inet rtfw in ip daddr 198.51.100.40 meta l4proto udp drop
  inn rt-srv nft add rule inet rtfw in ip daddr 198.51.100.40 icmp type echo-request drop
}
fw40_off() { inn rt-srv nft delete table inet rtfw 2>/dev/null || true; }
pre_benign_traceroute_udp() { fw40_on; }
s_benign_traceroute_udp() {  # classic UDP traceroute (ports 33434+, 16 probes at once) to 3 hosts; the last one filters UDP
  for h in 198.51.100.10 198.51.100.53 198.51.100.40; do $C traceroute -n -s 192.0.2.21 -w 1 -m 20 "$h" >/dev/null || true; done
  fw40_off
}
pre_benign_traceroute_icmp() { fw40_on; }
s_benign_traceroute_icmp() {  # traceroute -I (echo requests with growing TTL) to the same 3 hosts
  for h in 198.51.100.10 198.51.100.53 198.51.100.40; do $C traceroute -n -I -s 192.0.2.22 -w 1 -m 20 "$h" >/dev/null || true; done
  fw40_off
}
s_benign_traceroute_tcp() {  # traceroute -T -p 80 and -p 443 (closed) to 3 web servers
  for h in 198.51.100.10 198.51.100.11 198.51.100.12; do
    $C traceroute -n -T -p 80 -s 192.0.2.23 -w 1 -m 10 "$h" >/dev/null || true
    $C traceroute -n -T -p 443 -s 192.0.2.23 -w 1 -m 10 "$h" >/dev/null || true
  done
}
pre_benign_mtr() { fw40_on; }
s_benign_mtr() {  # mtr reports: ICMP to .10 and the filtered .40, then UDP (-u) to .10, 10 cycles each
  $C mtr -n -r -c 10 -i 0.2 -a 192.0.2.24 198.51.100.10 >/dev/null || true
  $C mtr -n -r -c 10 -i 0.2 -a 192.0.2.24 198.51.100.40 >/dev/null || true
  $C mtr -n -u -r -c 10 -i 0.2 -a 192.0.2.24 198.51.100.10 >/dev/null || true
  fw40_off
}
pre_benign_tracepath() { fw40_on; }
s_benign_tracepath() {  # tracepath (UDP, one probe at a time, ports 44444+) to .10 and the filtered .40
  $C tracepath -n -m 12 198.51.100.10 >/dev/null || true
  $C tracepath -n -m 12 198.51.100.40 >/dev/null || true
  fw40_off
}
pre_benign_dns_dead_resolver() {  # the clients' resolv.conf lists a dead resolver first (.58 does not exist)
  mkdir -p /etc/netns/rt-cli
  printf 'nameserver 198.51.100.58\nnameserver 198.51.100.53\noptions timeout:1 attempts:2\n' > /etc/netns/rt-cli/resolv.conf
}
s_dns_stub_lookups() {  # a stub resolver (glibc getaddrinfo, A and AAAA) resolving 12 names, each first asked of the dead resolver
  $C python3 -c '
import socket
for n in ("www", "mail", "intranet", "files", "git", "wiki", "www", "printer", "vpn", "git", "www", "mail"):
    try:
        socket.getaddrinfo(n + ".corp.example", 80)
    except socket.gaierror:
        pass'
}
s_benign_dns_dead_resolver() {
  s_dns_stub_lookups
  # and 8 hosts whose dig retries (3 tries, 1 s apart) the dead resolver, then ask the live one
  local pids=()
  for i in $(seq 30 37); do
    ( $C dig +tries=3 +time=1 -b "192.0.2.$i" @198.51.100.58 www.corp.example A >/dev/null || true
      $C dig +tries=1 +time=2 -b "192.0.2.$i" "@$DNS" www.corp.example A >/dev/null ) & pids+=($!)
  done
  wait "${pids[@]}"
  rm -rf /etc/netns/rt-cli
}
SNAP[dns_water_torture]=64
s_dns_water_torture() {  # random-subdomain ("water torture") queries at 800/s for 2 s: the resolver answers each NXDOMAIN
  python3 -c 'import random; r = random.Random(5)
print("\n".join("%s.corp.example A" % "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12)) for _ in range(4000)))' > "$TMP/torture.txt"
  $A dnsperf -s "$DNS" -d "$TMP/torture.txt" -Q 800 -l 2 -c 4 >/dev/null || true
}
pre_benign_happy_eyeballs() {  # IPv6 is broken for the client 2001:db8:c::10 (192.0.2.10): its packets reach the servers and vanish
  inn rt-srv nft add table inet rthe
  inn rt-srv nft add chain inet rthe in '{ type filter hook input priority 0 ; }'
  inn rt-srv nft add rule inet rthe in ip6 saddr 2001:db8:c::10 tcp dport 80 drop
}
s_benign_happy_eyeballs() {  # a dual-stack browser visits 30 sites: curl tries IPv6 first, falls back to IPv4 after 200 ms
  for i in $(seq 10 39); do
    $C curl -s -o /dev/null --max-time 5 --resolve "site$i.corp.example:80:[2001:db8:5::$i],198.51.100.$i" \
      "http://site$i.corp.example/" || true
  done
  inn rt-srv nft delete table inet rthe
}
pre_benign_aria2c_mirrors() { no_offload; }
SNAP[benign_aria2c_mirrors]=54
s_benign_aria2c_mirrors() {  # aria2c: one 16 MB file from 10 mirrors, up to 4 connections each, 16 segments
  $C aria2c -q --interface=192.0.2.26 -x 4 -s 16 -k 1M -d "$TMP" -o big.bin --allow-overwrite=true \
    $(for i in $(seq 30 39); do echo "http://198.51.100.$i/files/big.bin"; done) || true
  # and the same file from one server, 16 connections (a download accelerator)
  $C aria2c -q --interface=192.0.2.26 -x 16 -s 16 -k 1M -d "$TMP" -o big2.bin --allow-overwrite=true \
    "http://198.51.100.10/files/big.bin" || true
}
pre_benign_git_ssh_polling() {
  mkdir -p "$TMP/www" && echo "<h1>deploy</h1>" > "$TMP/www/index.html"
  git init -q --bare "$TMP/repo.git" && git -C "$TMP/repo.git" config uploadpack.allowAnySHA1InWant true
  git init -q "$TMP/work" && git -C "$TMP/work" -c user.email=ci@corp.example -c user.name=ci commit -q --allow-empty -m init
  git -C "$TMP/work" push -q "$TMP/repo.git" HEAD:refs/heads/main
  chmod -R a+rX "$TMP/repo.git" "$TMP/www"; chown -R rtalice "$TMP/repo.git"  # git refuses a repository its user does not own
}
s_benign_git_ssh_polling() {  # a CI runner polls a git server over ssh (git ls-remote) every 2 s for 50 s; a deploy rsyncs to 10 hosts
  local ssh="ssh -F /dev/null -i $TMP/cm_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes"
  for _ in $(seq 1 25); do
    GIT_SSH_COMMAND="$ssh -b 192.0.2.39" $C git ls-remote "rtalice@198.51.100.10:$TMP/repo.git" >/dev/null || true
    sleep 2
  done
  for i in $(seq 20 29); do $C rsync -a -e "$ssh -b 192.0.2.40" "$TMP/www/" "rtalice@198.51.100.$i:/tmp/rt-deploy-$i/" || true; done
}
s_benign_ssh_controlmaster() {  # 30 commands over one multiplexed ssh connection (ControlMaster), then a second master after exit
  local opts=(-F /dev/null -i "$TMP/cm_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
              -o ControlMaster=auto -o "ControlPath=$TMP/cm-%C" -o ControlPersist=60 -b 192.0.2.44)
  for k in $(seq 1 30); do $C ssh "${opts[@]}" rtalice@198.51.100.10 "echo $k; uptime" </dev/null >/dev/null; sleep 0.3; done
  $C ssh "${opts[@]}" -O exit rtalice@198.51.100.10 2>/dev/null || true
}
pre_benign_udp_tunnel() {  # an OpenVPN-like UDP tunnel (socat TUN <-> UDP 1194) between 192.0.2.27 and 198.51.100.30
  no_offload
  inn rt-srv socat TUN:203.0.113.202/30,tun-name=rt5tun,iff-no-pi,up UDP-LISTEN:1194,bind=198.51.100.30 & TUN_PIDS=($!)
  sleep 0.5
  $C socat TUN:203.0.113.201/30,tun-name=rt5tun,iff-no-pi,up UDP:198.51.100.30:1194,bind=192.0.2.27:1194 & TUN_PIDS+=($!)
  sleep 1
  inn rt-srv ip link set rt5tun mtu 1400; $C ip link set rt5tun mtu 1400
  inn rt-srv iperf3 -s -B 203.0.113.202 -p 5202 -1 >/dev/null & TUN_PIDS+=($!)
  $C ping -c 1 -W 2 203.0.113.202 >/dev/null || true
  sleep 0.5
}
SNAP[benign_udp_tunnel]=42
s_benign_udp_tunnel() {  # a download through the tunnel: TCP at 60 Mbit/s inside, one UDP flow each way outside
  $C iperf3 -c 203.0.113.202 -B 203.0.113.201 -p 5202 -R -b 60M -t 2 >/dev/null || true
  kill "${TUN_PIDS[@]}" 2>/dev/null || true
}
s_benign_lb_dead_member() {  # TCP health checks (connect, close) every 2 s for 40 s: 9 live backends and one dead one (.45, gone)
  $C python3 - <<'PY'
import socket, time
pool = [f"198.51.100.{i}" for i in range(30, 39)] + ["198.51.100.45"]
for _ in range(20):
    t = time.time()
    for h in pool:
        try:
            socket.create_connection((h, 80), 0.5, ("192.0.2.28", 0)).close()
        except OSError:
            pass
    time.sleep(max(0.0, 2 - (time.time() - t)))
PY
}
pre_nmap_scanned_busy_server() {  # .15 listens on 30 more TCP ports (a busy application server; 80 is the web server's)
  inn rt-srv python3 -c '
import socket, time
ports = [21, 22, 25, 53, 81, 110, 111, 135, 139, 143, 389, 443, 445, 465, 587, 631, 993, 995, 1433, 1521,
         2049, 3306, 3389, 5432, 5900, 6379, 8000, 8080, 8443, 9200]
socks = []
for p in ports:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("198.51.100.15", p)); s.listen(64); socks.append(s)
time.sleep(60)' & BUSY_PID=$!
  sleep 0.5
}
s_nmap_scanned_busy_server() { $A nmap -n -sS -Pn -p 1-1000,1433,1521,2049,3306,3389,5432,5900,6379,8000,8080,8443,9200 198.51.100.15; kill "$BUSY_PID" 2>/dev/null || true; }
s_zmap_24_port80() {  # zmap's SYN scan of port 80 of the /24 (31 servers answer), 300 packets a second
  local gw; gw=$(inn rt-router cat /sys/class/net/br-c/address)
  : > "$TMP/zmap-blocklist"  # zmap's own list blocks the documentation ranges this lab uses
  $A zmap -q -p 80 -i eth0 -S 203.0.113.66 -G "$gw" -r 300 --cooldown-time 3 -b "$TMP/zmap-blocklist" -o /dev/null 198.51.100.0/24 || true
}
s_benign_dead_host_retries() {  # three clients keep retrying a host that is gone: an app's database (.45:5432) every 2 s,
  # a monitor checking 8 services of .46 every 10 s, and syslog to .47 (UDP, one line a second)
  $C python3 - <<'PY'
import socket, threading, time
def app():
    for _ in range(20):
        try:
            socket.create_connection(("198.51.100.45", 5432), 1, ("192.0.2.41", 0)).close()
        except OSError:
            pass
        time.sleep(1)
def monitor():
    for _ in range(4):
        for p in (22, 80, 443, 3306, 5432, 6379, 9100, 9090):
            try:
                socket.create_connection(("198.51.100.46", p), 1, ("192.0.2.42", 0)).close()
            except OSError:
                pass
        time.sleep(2)
def syslog():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("192.0.2.43", 0))
    for k in range(40):
        s.sendto(b"<14>1 2026-12-05T04:00:00Z app01 app - - - heartbeat %d" % k, ("198.51.100.47", 514))
        time.sleep(1)
ts = [threading.Thread(target=f) for f in (app, monitor, syslog)]
for t in ts: t.start()
for t in ts: t.join()
PY
}
s_nmap_scan_delay_10ports() { $A nmap -n -sS -Pn --scan-delay 8s -p 21,22,23,25,80,110,143,443,3306,8080 $WEB; }
s_nmap_aggressive_2ports() { $A nmap -n -A -p 22,80 $WEB >/dev/null; }
s_nmap_slow_t1_6ports()   { $A nmap -n -sS -T1 -Pn -p 22,80,443,445,3389,8080 $WEB; }
s_hydra_ssh_distributed() {  # 5 sources, each 12 guesses one at a time with a 4 s wait (hydra -c 4): 60 guesses in about a minute
  local pids=() b
  for b in 1 2 3 4 5; do
    ( sleep $(( b - 1 )); ip netns exec "rt-bot$b" hydra -l admin -P "$TMP/pw12.txt" -t 1 -c 4 -I ssh://$WEB >/dev/null 2>&1 || true ) & pids+=($!)
  done
  wait "${pids[@]}"
}
s_nmap_udp_31hosts_3ports() { $A nmap -n -sU -Pn -p 53,123,161 198.51.100.10-40; }

for n in 6 12 18 24 36 40 44 48; do
  eval "s_hydra_ssh_pw$n() { \$A hydra -l admin -P \"\$TMP/pw$n.txt\" -t 4 -I ssh://\$WEB || true; }"
done

cd "$TMP"  # hydra leaves hydra.restore in its working directory
for name in "${NAMES[@]}"; do
  declare -F "s_$name" >/dev/null || { echo "capture-realtools: no capture named $name" >&2; exit 2; }
  f="$OUT/$name.pcap"
  # a capture that starts mid-connection: its connections open before tcpdump runs
  if declare -F "pre_$name" >/dev/null; then "pre_$name" >&2; fi
  ip netns exec rt-router tcpdump -q -n -i br-c -s "${SNAP[$name]:-128}" -U -w "$f" 2>/dev/null & tcpd=$!
  sleep 1
  echo "== $name" >&2
  "s_$name" >&2 || echo "capture-realtools: $name: tool exited $?" >&2
  sleep 2
  kill -TERM $tcpd; wait $tcpd || true
done
ls -l "$OUT" >&2
