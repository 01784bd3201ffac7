#!/bin/bash
# Promote this standby once it has replayed its primary's shutdown checkpoint, then wait until
# it accepts writes. Run right after the primary's clean shutdown: nothing the primary committed
# is lost, because the standby is promoted only when it holds every WAL record the primary wrote.
# Prints one JSON line with the timings.
#
# usage: promote-when-caught-up.sh MAJOR CLUSTER PORT CHECKPOINT_LSN TIMEOUT_S
set -euo pipefail

if (($# != 5)); then
  echo "usage: $0 MAJOR CLUSTER PORT CHECKPOINT_LSN TIMEOUT_S" >&2
  exit 2
fi
major=$1 cluster=$2 port=$3 lsn=$4 timeout_s=$5

fail() { printf 'promote-when-caught-up: %s\n' "$*" >&2; exit 1; }
sql() { runuser -u postgres -- psql -X -At -h /var/run/postgresql -p "$port" -d postgres -c "$1"; }
now() { date +%s.%N; }

[[ $lsn =~ ^[0-9A-F]+/[0-9A-F]+$ ]] || fail "not a WAL position: $lsn"
t0=$(now)
deadline=$(($(date +%s) + timeout_s))
until [[ $(sql "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn") == t ]]; do
  (($(date +%s) < deadline)) || fail "the standby did not replay up to $lsn within ${timeout_s} s (replayed: $(sql 'SELECT pg_last_wal_replay_lsn()'))"
  sleep 0.05
done
t_caught_up=$(now)
[[ $(sql "SELECT pg_promote(true, $timeout_s)") == t ]] || fail "pg_promote did not finish"
until [[ $(sql "SELECT NOT pg_is_in_recovery()") == t ]]; do
  (($(date +%s) < deadline)) || fail "the promoted standby still runs recovery after ${timeout_s} s"
  sleep 0.05
done
t_writable=$(now)
awk -v a="$t0" -v b="$t_caught_up" -v c="$t_writable" 'BEGIN {
  printf "{\"catch_up_s\": %.3f, \"promote_s\": %.3f, \"writable_at\": %.3f}\n", b - a, c - b, c
}'
