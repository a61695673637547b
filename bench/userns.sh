#!/bin/bash
# bench/userns.sh COMMAND...: run COMMAND in a new user namespace owned by
# root whose uid and gid maps are the identity over the whole range
# ("0 0 4294967295"), for BENCH_USERNS=1 (bench/run, bench/sandbox.sh).
#
# Whoever creates a user namespace holds every capability in it, bounding
# set included, whatever the initial namespace's bounding set lacks: in
# here the broker has CAP_SYS_RESOURCE over the processes of this
# namespace (prlimit() of another user's soft limit within its hard
# limit), while everything that the kernel checks against the initial
# namespace (raising a hard limit, SCHED_FIFO, mknod) is still refused.
# Not the initial namespace: every row measured in here says so.
#
# The maps are written from out here (util-linux's --map-users would need
# newuidmap), by root, which holds CAP_SETUID/CAP_SETGID over the parent
# namespace: setgroups(2) stays allowed inside.  COMMAND learns the
# namespace it was started from in BENCH_USERNS_OUTER, to check it is not in it.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: bench/userns.sh COMMAND..." >&2; exit 2; }
export BENCH_USERNS_OUTER
BENCH_USERNS_OUTER=$(readlink /proc/self/ns/user)
# the child stops itself once in its namespace, until its maps are written
unshare --user bash -c 'kill -STOP $$ && exec "$@"' userns "$@" &
pid=$!
state() { sed 's/^.*) //' /proc/$pid/stat | cut -d' ' -f1; }
for _ in $(seq 500); do
        [ "$(state)" = T ] && break
        sleep 0.01
done
if [ "$(state)" != T ] || [ "$(readlink /proc/$pid/ns/user)" = "$BENCH_USERNS_OUTER" ]; then
        kill -KILL $pid
        echo "bench/userns.sh: the child did not stop in a new user namespace" >&2
        exit 1
fi
echo "0 0 4294967295" > /proc/$pid/uid_map
echo "0 0 4294967295" > /proc/$pid/gid_map
kill -CONT $pid
wait $pid
