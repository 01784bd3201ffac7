#!/bin/bash
# Stop this primary cleanly (so its standbys receive every WAL record, the shutdown checkpoint
# last) and print that checkpoint's position and the time the stop began, as one JSON line.
#
# usage: stop-primary.sh MAJOR CLUSTER TIMEOUT_S
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 MAJOR CLUSTER TIMEOUT_S" >&2
  exit 2
fi
major=$1 cluster=$2 timeout_s=$3
t0=$(date +%s.%N)
pg_ctlcluster "$major" "$cluster" stop -m fast -- -t "$timeout_s"
t1=$(date +%s.%N)
data=$(pg_conftool -s "$major" "$cluster" show data_directory)
state=$(LC_ALL=C "/usr/lib/postgresql/$major/bin/pg_controldata" "$data" \
  | sed -n 's/^Database cluster state: *//p')
[[ $state == "shut down" ]] || { echo "stop-primary: cluster state is '$state', not 'shut down'" >&2; exit 1; }
lsn=$(LC_ALL=C "/usr/lib/postgresql/$major/bin/pg_controldata" "$data" \
  | sed -n 's/^Latest checkpoint location: *//p')
printf '{"checkpoint_lsn": "%s", "stop_began_at": %s, "stop_s": %s}\n' "$lsn" "$t0" \
  "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
