#!/usr/bin/env bash
# Provision the FlowCEP demo box (Debian bookworm): Elasticsearch + Kibana, FlowCEP in a venv,
# the collector and replayer units, the index templates and the Kibana dashboard.
# Run as root by `vagrant up` / `vagrant provision`; idempotent, so running it again is fine
# (it reinstalls FlowCEP from the synced folder: `vagrant rsync && vagrant provision`).
#
# Environment: FLOWCEP_SOURCE (default /vagrant), FLOWCEP_PREFIX (default /opt/flowcep),
# FLOWCEP_ELASTIC_VERSION (see vagrant/elastic.sh), FLOWCEP_LISTEN (idem),
# FLOWCEP_REPLAY_SPEED (the replayer's pace, default 1: real time),
# FLOWCEP_VM_OFFLINE=1 (the boot test, tests/vm, sets it): no network in the box. Everything is
# installed from the synced folder (wheels from vagrant/fetch-wheels.sh; the base packages are
# already in the box of vagrant/build-box.sh), Elastic's packages are not tried, and noida-db,
# a loopback stand-in for Elasticsearch's REST API, runs on 127.0.0.1:9200 instead; there is no
# Kibana then, so its import is reported as skipped.
set -euo pipefail

SOURCE="${FLOWCEP_SOURCE:-/vagrant}"
PREFIX="${FLOWCEP_PREFIX:-/opt/flowcep}"
# Vagrant passes an empty string when the host did not set the variable.
FLOWCEP_ELASTIC_VERSION="${FLOWCEP_ELASTIC_VERSION:-8.19.3}"
export FLOWCEP_ELASTIC_VERSION
ES_URL="http://127.0.0.1:9200"
KIBANA_URL="http://127.0.0.1:5601"
FLOWCEP="$PREFIX/venv/bin/flowcep"
OFFLINE="${FLOWCEP_VM_OFFLINE:-}"
case "$OFFLINE" in ""|0) OFFLINE="" ;; 1) ;; *)
    echo "provision.sh: FLOWCEP_VM_OFFLINE must be 1 or unset, got '$OFFLINE'" >&2; exit 2 ;;
esac
WHEELS="$SOURCE/vagrant/wheels"

# Each step says when it started (seconds since provisioning began): a slow box shows where.
log() { printf '\n==> %s (%d s)\n' "$*" "$SECONDS"; }
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
base_packages=(ca-certificates curl gnupg python3 python3-venv tar)
missing=()
for package in "${base_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "already installed: ${base_packages[*]}"
elif [ -n "$OFFLINE" ]; then
    echo "provision.sh: offline (FLOWCEP_VM_OFFLINE=1) and the box lacks ${missing[*]}: use the box of vagrant/build-box.sh, which has them" >&2
    exit 1
else
    # Refresh the package lists when they are missing or older than a day.
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -1440 -print -quit)" ]; then
        apt-get update -q
    fi
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

flowcep_args=(--source "$SOURCE" --prefix "$PREFIX")
if [ -n "$(find "$WHEELS" -maxdepth 1 -name '*.whl' -print -quit 2>/dev/null)" ]; then
    flowcep_args+=(--wheels "$WHEELS")
elif [ -n "$OFFLINE" ]; then
    echo "provision.sh: offline (FLOWCEP_VM_OFFLINE=1) but $WHEELS holds no wheels: run vagrant/fetch-wheels.sh on the host, then 'vagrant rsync'" >&2
    exit 1
fi

if [ -n "$OFFLINE" ]; then
    log "Elasticsearch stand-in (offline)"
    echo "FLOWCEP_VM_OFFLINE=1: not installing Elastic's packages; running noida-db, the loopback Elasticsearch stand-in, on $ES_URL instead (no Kibana)"
    # noida-db answers as Elasticsearch 8.x: pin the client to it.
    bash "$SOURCE/vagrant/flowcep.sh" "${flowcep_args[@]}" --es-major 8 --also "noida-db>=0.2.3"
    noida=$("$PREFIX/venv/bin/python" -I -c \
        'from flowcep_plugin.es.loopback import noida_binary; print(noida_binary() or "")')
    if [ -z "$noida" ]; then
        echo "provision.sh: noida-db's server binary is missing from $PREFIX/venv (is noida-db in $WHEELS?)" >&2
        exit 1
    fi
    install -d "$PREFIX/bin"
    ln -sfn "$noida" "$PREFIX/bin/noida-db"
    install -m 0644 "$SOURCE/vagrant/flowcep-es-standin.service" /etc/systemd/system/flowcep-es-standin.service
    systemctl daemon-reload
    systemctl enable flowcep-es-standin.service >/dev/null 2>&1
    systemctl restart flowcep-es-standin.service
else
    # A box provisioned offline before: its stand-in must not shadow the real Elasticsearch.
    if [ -f /etc/systemd/system/flowcep-es-standin.service ]; then
        systemctl disable --now flowcep-es-standin.service >/dev/null 2>&1 || true
        rm -f /etc/systemd/system/flowcep-es-standin.service
        systemctl daemon-reload
    fi
    log "Elasticsearch and Kibana $FLOWCEP_ELASTIC_VERSION"
    if ! bash "$SOURCE/vagrant/elastic.sh"; then
        echo "provision.sh: installing Elasticsearch and Kibana $FLOWCEP_ELASTIC_VERSION from artifacts.elastic.co failed (see above): the box must reach Elastic's repository; retry with 'vagrant provision'" >&2
        exit 1
    fi

    log "FlowCEP into $PREFIX/venv"
    bash "$SOURCE/vagrant/flowcep.sh" "${flowcep_args[@]}" --es-major "${FLOWCEP_ELASTIC_VERSION%%.*}"
fi

log "Configuration and systemd units"
install -D -m 0644 "$SOURCE/vagrant/flowcep.toml" /etc/flowcep/flowcep.toml
install -m 0644 "$SOURCE/vagrant/flowcep-collector.service" /etc/systemd/system/flowcep-collector.service
install -m 0644 "$SOURCE/vagrant/flowcep-replay.service" /etc/systemd/system/flowcep-replay.service
dropin=/etc/systemd/system/flowcep-replay.service.d/speed.conf
if [ -n "${FLOWCEP_REPLAY_SPEED:-}" ]; then
    install -d "$(dirname "$dropin")"
    printf '[Service]\nEnvironment=FLOWCEP_REPLAY_SPEED=%s\n' "$FLOWCEP_REPLAY_SPEED" >"$dropin"
else
    rm -f "$dropin"
fi
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
# The replayer fails (and retries) until the collector listens: on a slow box that takes long
# enough that the unit would be caught between retries by the check at the end.
collector_listens() { [ -n "$(ss -ltnH 'sport = :4739' 2>/dev/null)" ]; }
wait_for "The collector (IPFIX/TCP on 4739)" 180 collector_listens ||
    problem "the collector does not listen on 4739 after 3 minutes: journalctl -u flowcep-collector"
systemctl restart flowcep-replay.service

log "Kibana saved objects (flowcep kibana setup)"
# Kibana's first start migrates its indices and takes a few minutes on a small box.
if [ -n "$OFFLINE" ]; then
    echo "SKIPPED: Kibana import (offline: no Kibana in this box)"
elif wait_for "Kibana" 600 kibana_ready; then
    "$FLOWCEP" kibana setup --url "$KIBANA_URL" || problem "flowcep kibana setup failed (see above)"
else
    problem "Kibana did not become available on $KIBANA_URL within 10 minutes: journalctl -u kibana"
fi

sleep 5
units=(elasticsearch kibana flowcep-collector flowcep-replay)
[ -z "$OFFLINE" ] || units=(flowcep-es-standin flowcep-collector flowcep-replay)
for unit in "${units[@]}"; do
    # Restart=on-failure units may be between two attempts: give them a minute.
    wait_for "$unit" 60 systemctl is-active --quiet "$unit" ||
        problem "$unit is not running: journalctl -u $unit"
done

if [ -n "$OFFLINE" ]; then
    cat <<EOF

================================================================================
 FlowCEP demo box is ready (OFFLINE: Elasticsearch stand-in noida-db, no Kibana;
 the Kibana import was SKIPPED).

 Elasticsearch    $ES_URL in the box (stand-in): $FLOWCEP alerts search --url $ES_URL
 alerts file      sudo tail -f /var/log/flowcep/alerts.jsonl
================================================================================
EOF
else
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
fi

if [ "${#problems[@]}" -gt 0 ]; then
    printf '\nProvisioning finished with problems:\n' >&2
    printf '  - %s\n' "${problems[@]}" >&2
    exit 1
fi
