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
# On a host without a policy-rc.d that forbids it, the package's own scripts (invoke-rc.d)
# start the cluster during dpkg -i: then it is running already, and that is not a failure.
start_pid=
if ! pg_ctlcluster "$major" "$cluster" status >/dev/null 2>&1; then
  # pg_ctlcluster start returns only after its own readiness probes (about 2 s more): start it
  # in the background and take the first connection that succeeds as the end of the outage
  pg_ctlcluster "$major" "$cluster" start >/tmp/hisops-pg-patch-start.log 2>&1 &
  start_pid=$!
fi
deadline=$(($(date +%s) + timeout_s))
until runuser -u postgres -- psql -X -At -h /var/run/postgresql -p "$port" -d postgres \
    -c 'SELECT 1' >/dev/null 2>&1; do
  if [[ -n $start_pid ]] && ! kill -0 "$start_pid" 2>/dev/null; then
    wait "$start_pid" || fail "pg_ctlcluster $major $cluster start failed: $(tail -n 1 /tmp/hisops-pg-patch-start.log)"
    start_pid=
  fi
  (($(date +%s) < deadline)) || fail "the cluster did not accept connections within ${timeout_s} s"
  sleep 0.05
done
t_ready=$(now)
if [[ -n $start_pid ]]; then
  wait "$start_pid" || fail "pg_ctlcluster $major $cluster start failed: $(tail -n 1 /tmp/hisops-pg-patch-start.log)"
fi
awk -v a="$t_stop" -v b="$t_stopped" -v c="$t_installed" -v d="$t_ready" 'BEGIN {
  printf "{\"stop_s\": %.3f, \"install_s\": %.3f, \"start_s\": %.3f, \"outage_s\": %.3f, \"stop_began_at\": %.3f, \"ready_at\": %.3f}\n",
    b - a, c - b, d - c, d - a, a, d
}'
