#!/bin/bash
# Swap a PostgreSQL cluster's server packages: stop, dpkg -i, start, wait until it accepts
# connections. One script rather than one Ansible task per stage, so the measured outage is the
# cluster's, not Ansible's task overhead. Prints one JSON line with the timings.
#
# usage: swap-packages.sh MAJOR CLUSTER PORT TIMEOUT_S DEB...
#   With no DEB (the packages are already installed) the cluster is only restarted.
set -euo pipefail

if (($# < 4)); then
  echo "usage: $0 MAJOR CLUSTER PORT TIMEOUT_S DEB..." >&2
  exit 2
fi
major=$1 cluster=$2 port=$3 timeout_s=$4
shift 4

now() { date +%s.%N; }
fail() { printf 'swap-packages: %s\n' "$*" >&2; exit 1; }

for deb in "$@"; do
  [[ -f $deb ]] || fail "package file $deb is missing"
done

t_stop=$(now)
# -m fast: open transactions are rolled back (the preflight refused long-running ones);
# a clean shutdown writes a final checkpoint, so the start needs no crash recovery
if pg_ctlcluster "$major" "$cluster" status >/dev/null 2>&1; then
  pg_ctlcluster "$major" "$cluster" stop -m fast -- -t "$timeout_s" \
    || fail "pg_ctlcluster $major $cluster stop failed"
fi
t_stopped=$(now)
if (($# > 0)); then
  # --force-downgrade is dpkg's default for -i; spelled out because a rollback downgrades
  dpkg -i --force-downgrade "$@" >/tmp/hisops-pg-patch-dpkg.log 2>&1 \
    || fail "dpkg -i failed: $(tail -n 1 /tmp/hisops-pg-patch-dpkg.log)"
fi
t_installed=$(now)
pg_ctlcluster "$major" "$cluster" start || fail "pg_ctlcluster $major $cluster start failed"
deadline=$(($(date +%s) + timeout_s))
until runuser -u postgres -- psql -X -At -h /var/run/postgresql -p "$port" -d postgres \
    -c 'SELECT 1' >/dev/null 2>&1; do
  (($(date +%s) < deadline)) || fail "the cluster did not accept connections within ${timeout_s} s"
  sleep 0.1
done
t_ready=$(now)
awk -v a="$t_stop" -v b="$t_stopped" -v c="$t_installed" -v d="$t_ready" 'BEGIN {
  printf "{\"stop_s\": %.3f, \"install_s\": %.3f, \"start_s\": %.3f, \"outage_s\": %.3f, \"stopped_at\": %.3f, \"ready_at\": %.3f}\n",
    b - a, c - b, d - c, d - a, a, d
}'
