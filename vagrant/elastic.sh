#!/usr/bin/env bash
# Install, configure and start a pinned Elasticsearch + Kibana from Elastic's APT repository.
# Run as root on the demo box (Debian bookworm) by vagrant/provision.sh; idempotent.
#
# Environment:
#   FLOWCEP_ELASTIC_VERSION  version of both packages (default below; any 8.x or 9.x release)
#   FLOWCEP_LISTEN           address Elasticsearch and Kibana bind in the guest (default: see
#                            choose_listen_address)
#
# !!! SECURITY IS DISABLED !!!  This is a single-node, throw-away demo box whose ports are only
# forwarded to the host's 127.0.0.1 (see the Vagrantfile): no TLS, no users, no passwords, so the
# demo runs with no manual step. Never copy this configuration to a machine other people can
# reach. To keep security on instead, drop the xpack.security.* lines from elasticsearch.yml,
# read the generated `elastic` password from the package's install output
# (or reset it: /usr/share/elasticsearch/bin/elasticsearch-reset-password -u elastic),
# and give FlowCEP credentials in /etc/flowcep/flowcep.toml ([outputs.elasticsearch]).
set -euo pipefail

ELASTIC_VERSION="${FLOWCEP_ELASTIC_VERSION:-8.19.3}"
major="${ELASTIC_VERSION%%.*}"
case "$ELASTIC_VERSION" in
    8.*|9.*) ;;
    *) echo "elastic.sh: FLOWCEP_ELASTIC_VERSION must be an 8.x or 9.x release, got '$ELASTIC_VERSION'" >&2
       exit 2 ;;
esac

log() { printf 'elastic.sh: %s\n' "$*"; }

# The box forwards ports differently per provider. VirtualBox NAT delivers forwarded
# connections to the guest's NAT address, so the servers must listen there; that interface is
# reachable only through those forwards, which the Vagrantfile binds to the host's loopback.
# vagrant-libvirt forwards through an SSH tunnel to the guest's 127.0.0.1, and its management
# network is reachable from the host and its other VMs, so the servers stay on loopback.
choose_listen_address() {
    if [ -n "${FLOWCEP_LISTEN:-}" ]; then
        printf '%s\n' "$FLOWCEP_LISTEN"
    elif [ "$(systemd-detect-virt 2>/dev/null || true)" = "oracle" ]; then
        printf '0.0.0.0\n'
    else
        printf '127.0.0.1\n'
    fi
}

# write_if_changed DEST MODE OWNER: stdin -> DEST when different; returns 0 if DEST changed.
write_if_changed() {
    local dest="$1" mode="$2" owner="$3" tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then
        rm -f "$tmp"
        return 1
    fi
    install -D -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$tmp" "$dest"
    rm -f "$tmp"
    log "wrote $dest"
    return 0
}

export DEBIAN_FRONTEND=noninteractive

keyring="/usr/share/keyrings/elastic-${major}.x.gpg"
if [ ! -s "$keyring" ]; then
    log "adding Elastic's package signing key"
    curl -fsSL --retry 3 https://artifacts.elastic.co/GPG-KEY-elasticsearch |
        gpg --batch --yes --dearmor -o "$keyring.tmp"
    mv "$keyring.tmp" "$keyring"
    chmod 0644 "$keyring"
fi
if write_if_changed "/etc/apt/sources.list.d/elastic-${major}.x.list" 0644 root:root <<EOF
deb [signed-by=$keyring] https://artifacts.elastic.co/packages/${major}.x/apt stable main
EOF
then
    apt-get update -q
elif ! apt-cache show "elasticsearch=$ELASTIC_VERSION" >/dev/null 2>&1; then
    # Repository already configured but its index is missing (interrupted first run) or stale.
    apt-get update -q
fi

installed() { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | awk '$3 == "installed" {print $4}'; }
if [ "$(installed elasticsearch)" != "$ELASTIC_VERSION" ] || [ "$(installed kibana)" != "$ELASTIC_VERSION" ]; then
    log "installing Elasticsearch and Kibana $ELASTIC_VERSION (a few minutes: ~1 GB download)"
    # --force-confold: our configuration files replace the packages' below, keep them on upgrades.
    apt-get install -y -q --allow-downgrades --allow-change-held-packages \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "elasticsearch=$ELASTIC_VERSION" "kibana=$ELASTIC_VERSION"
    apt-mark hold elasticsearch kibana >/dev/null
else
    log "Elasticsearch and Kibana $ELASTIC_VERSION already installed"
fi

listen=$(choose_listen_address)
log "Elasticsearch and Kibana listen on $listen"

restart_es=0
# Our file replaces the package's, including the TLS/enrollment block its installer appended.
if write_if_changed /etc/elasticsearch/elasticsearch.yml 0660 root:elasticsearch <<EOF
# Managed by FlowCEP's vagrant/elastic.sh: \`vagrant provision\` overwrites local changes.
cluster.name: flowcep-demo
node.name: flowcep-demo
path.data: /var/lib/elasticsearch
path.logs: /var/log/elasticsearch
# Single node: development mode (no bootstrap checks) and no cluster formation.
discovery.type: single-node
# The node-to-node transport never leaves the box; only the REST API is forwarded.
network.host: 127.0.0.1
http.host: $listen
http.port: 9200

# !!! SECURITY DISABLED: demo box only, ports forwarded to the host's loopback only. !!!
# See the header of vagrant/elastic.sh for how to turn it back on.
xpack.security.enabled: false
xpack.security.enrollment.enabled: false
xpack.security.http.ssl.enabled: false
xpack.security.transport.ssl.enabled: false
EOF
then restart_es=1; fi

# Half the RAM by default would starve Kibana and FlowCEP on a 6 GB box.
if write_if_changed /etc/elasticsearch/jvm.options.d/flowcep-heap.options 0644 root:elasticsearch <<EOF
-Xms1g
-Xmx1g
EOF
then restart_es=1; fi

# The installer stored passwords for the TLS keystores it generated; with TLS off they would
# only confuse, so drop them (keystore.seed and the rest stay).
keystore=/usr/share/elasticsearch/bin/elasticsearch-keystore
for setting in $("$keystore" list 2>/dev/null | grep -E '^xpack\.security\.(http|transport)\.ssl\.' || true); do
    "$keystore" remove "$setting"
    restart_es=1
done
# Rewritten by root above: give it back to the service, which must read it.
chown root:elasticsearch /etc/elasticsearch/elasticsearch.keystore 2>/dev/null || true
chmod 0660 /etc/elasticsearch/elasticsearch.keystore 2>/dev/null || true

# Kibana refuses alerting features without a saved-objects encryption key; keep one per box.
keyfile=/etc/kibana/flowcep-encryption-key
if [ ! -s "$keyfile" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$keyfile")
fi
encryption_key=$(cat "$keyfile")

restart_kibana=0
if write_if_changed /etc/kibana/kibana.yml 0660 root:kibana <<EOF
# Managed by FlowCEP's vagrant/elastic.sh: \`vagrant provision\` overwrites local changes.
server.host: "$listen"
server.port: 5601
server.publicBaseUrl: "http://127.0.0.1:5601"
server.name: flowcep-demo
# Elasticsearch runs without security on this box (see vagrant/elastic.sh): no credentials.
elasticsearch.hosts: ["http://127.0.0.1:9200"]
xpack.encryptedSavedObjects.encryptionKey: "$encryption_key"
telemetry.optIn: false
telemetry.allowChangingOptInStatus: false
EOF
then restart_kibana=1; fi

systemctl daemon-reload
systemctl enable elasticsearch.service kibana.service >/dev/null 2>&1
if [ "$restart_es" = 1 ] || ! systemctl is-active --quiet elasticsearch.service; then
    # Type=notify: returns once Elasticsearch is started (or failed).
    log "(re)starting Elasticsearch"
    systemctl restart elasticsearch.service
fi
if [ "$restart_kibana" = 1 ] || ! systemctl is-active --quiet kibana.service; then
    log "(re)starting Kibana (it needs a minute or two before it answers)"
    systemctl restart kibana.service
fi
