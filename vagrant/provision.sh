#!/usr/bin/env bash
# Provision the FlowCEP demo box (Debian bookworm): Elasticsearch + Kibana, FlowCEP in a venv,
# the collector and replayer units, the index templates and the Kibana dashboard.
# Run as root by `vagrant up` / `vagrant provision`; idempotent, so running it again is fine
# (it reinstalls FlowCEP from the synced folder: `vagrant rsync && vagrant provision`).
#
# Environment: FLOWCEP_SOURCE (default /vagrant), FLOWCEP_PREFIX (default /opt/flowcep),
# FLOWCEP_ELASTIC_VERSION (see vagrant/elastic.sh), FLOWCEP_LISTEN (idem).
set -euo pipefail

SOURCE="${FLOWCEP_SOURCE:-/vagrant}"
PREFIX="${FLOWCEP_PREFIX:-/opt/flowcep}"
# Vagrant passes an empty string when the host did not set the variable.
FLOWCEP_ELASTIC_VERSION="${FLOWCEP_ELASTIC_VERSION:-8.19.3}"
export FLOWCEP_ELASTIC_VERSION
ES_URL="http://127.0.0.1:9200"
KIBANA_URL="http://127.0.0.1:5601"
FLOWCEP="$PREFIX/venv/bin/flowcep"

log() { printf '\n==> %s\n' "$*"; }
problems=()
problem() { printf 'WARNING: %s\n' "$*" >&2; problems+=("$*"); }

if [ "$(id -u)" != 0 ]; then
    echo "provision.sh: run me as root (vagrant does)" >&2
    exit 1
fi
if [ ! -f "$SOURCE/vagrant/flowcep.sh" ]; then
    echo "provision.sh: $SOURCE does not hold the FlowCEP sources (is the synced folder there? try 'vagrant rsync')" >&2
    exit 1
fi

# wait_for WHAT SECONDS COMMAND...: retry COMMAND every 3 s until it succeeds or time runs out.
wait_for() {
    local what="$1" seconds="$2" deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            return 1
        fi
        sleep 3
    done
    printf '%s is up\n' "$what"
}
es_ready() { curl -fsS --max-time 5 "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=5s"; }
kibana_ready() {
    # /api/status answers before the plugins are ready; wait for overall level "available".
    curl -fsS --max-time 5 "$KIBANA_URL/api/status" | python3 -c \
        'import json, sys; sys.exit(json.load(sys.stdin)["status"]["overall"]["level"] != "available")'
}

log "Base packages"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -1440 -print -quit)" ]; then
    apt-get update -q
fi
apt-get install -y -q --no-install-recommends \
    ca-certificates curl gnupg python3 python3-venv tar >/dev/null

log "Elasticsearch and Kibana $FLOWCEP_ELASTIC_VERSION"
bash "$SOURCE/vagrant/elastic.sh"

log "FlowCEP into $PREFIX/venv"
bash "$SOURCE/vagrant/flowcep.sh" --source "$SOURCE" --prefix "$PREFIX" \
    --es-major "${FLOWCEP_ELASTIC_VERSION%%.*}"

log "Configuration and systemd units"
install -D -m 0644 "$SOURCE/vagrant/flowcep.toml" /etc/flowcep/flowcep.toml
install -m 0644 "$SOURCE/vagrant/flowcep-collector.service" /etc/systemd/system/flowcep-collector.service
install -m 0644 "$SOURCE/vagrant/flowcep-replay.service" /etc/systemd/system/flowcep-replay.service
systemctl daemon-reload
if ! "$FLOWCEP" validate -c /etc/flowcep/flowcep.toml; then
    problem "flowcep validate rejected /etc/flowcep/flowcep.toml"
fi

log "Elasticsearch index templates (flowcep es setup)"
if wait_for "Elasticsearch" 300 es_ready; then
    # Before the collector starts: the first alert must land in FlowCEP's data stream template,
    # not in the stack's generic logs-*-* one.
    "$FLOWCEP" es setup --url "$ES_URL" || problem "flowcep es setup failed (see above)"
else
    problem "Elasticsearch did not answer on $ES_URL within 5 minutes: journalctl -u elasticsearch"
fi

log "FlowCEP collector and demo replayer"
systemctl enable flowcep-collector.service flowcep-replay.service >/dev/null 2>&1
# Restart: a new FlowCEP or configuration may have been installed above.
systemctl restart flowcep-collector.service
systemctl restart flowcep-replay.service

log "Kibana saved objects (flowcep kibana setup)"
# Kibana's first start migrates its indices and takes a few minutes on a small box.
if wait_for "Kibana" 600 kibana_ready; then
    "$FLOWCEP" kibana setup --url "$KIBANA_URL" || problem "flowcep kibana setup failed (see above)"
else
    problem "Kibana did not become available on $KIBANA_URL within 10 minutes: journalctl -u kibana"
fi

sleep 5
for unit in elasticsearch kibana flowcep-collector flowcep-replay; do
    systemctl is-active --quiet "$unit" || problem "$unit is not running: journalctl -u $unit"
done

cat <<EOF

================================================================================
 FlowCEP demo box is ready.

 Kibana           http://127.0.0.1:5601   (on your host; no login: security is off)
   Dashboard      Analytics > Dashboards > "FlowCEP alerts"
                  first alerts 2-5 minutes after the replayer started; all attacks within 10
 Elasticsearch    http://127.0.0.1:9200   e.g. curl '127.0.0.1:9200/logs-flowcep.alert-*/_count'

 In the box (vagrant ssh):
   alerts file    sudo tail -f /var/log/flowcep/alerts.jsonl
   collector      journalctl -fu flowcep-collector    config /etc/flowcep/flowcep.toml
   replayer       journalctl -fu flowcep-replay
   stop replay    sudo systemctl stop flowcep-replay
   exporters      IPFIX to the box on 4739 (TCP or UDP); see docs/vagrant.md
================================================================================
EOF

if [ "${#problems[@]}" -gt 0 ]; then
    printf '\nProvisioning finished with problems:\n' >&2
    printf '  - %s\n' "${problems[@]}" >&2
    exit 1
fi
