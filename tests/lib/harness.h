/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness.h - the functional test harness (the namespace tier of the suite).
 *
 * harness_main() gives each scenario its own world:
 *   - a cgroup v2 subtree standing for the node: NODE/system (broker and
 *     harness), NODE/kubepods.slice/pod-a and pod-b (pods);
 *   - a process in its own mount namespace (private /run, cgroup2
 *     remounted so NODE is "/"), network namespace and cgroup namespace;
 *   - a real delegate-broker, as root, with the scenario's policy.
 * Clients are test-client processes running as an unprivileged uid inside
 * a pod cgroup.  Everything is torn down by the outer process even when
 * the scenario crashes: every process in NODE is killed (cgroup.kill) and
 * the cgroups removed.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "tap.h"

#define HARNESS_SOCKET "/run/delegate/broker.sock"
#define HARNESS_POLICY_DIR "/run/delegate-test/policy.d"
#define HARNESS_BROKER_LOG "/run/delegate-test/broker.log"

typedef struct harness {
        char cgroot[256]; /* cgroup2 mount point (inside: NODE is its root) */
        pid_t broker_pid;
        pid_t dbus_pid;
} harness;

/* The private bus of D-Bus scenarios (dbus-daemon, tests/functional/dbus-test.conf). */
#define HARNESS_BUS_ADDRESS "unix:path=/run/dbus-test/bus"

typedef void (*scenario_fn)(harness *h);

/* The hard RLIMIT_MEMLOCK every scenario process starts with (soft is 1/8). */
extern uint64_t harness_hard;

typedef struct scenario {
        const char *name;
        const char *policy; /* JSON text of the scenario's policy file */
        scenario_fn fn;
} scenario;

/* Run the scenario named argv[1] from @list; returns the exit code. */
int harness_main(int argc, char **argv, const scenario *list, size_t n);

/* Broker control */
/* Start brokers with --foreground (the default: true; false: as the shipped unit runs it). */
extern bool harness_broker_foreground;
int harness_start_broker(harness *h);
/* The same with "--bus @bus" (NULL: the broker's default). */
int harness_start_broker_bus(harness *h, const char *bus);
/* The same with extra broker arguments (@extra NULL-terminated, may be NULL). */
int harness_start_broker_args(harness *h, const char *const *extra);
/* Start the private dbus-daemon ($DELEGATE_DBUS_CONFIG); waits for its socket. */
int harness_start_dbus(harness *h);
void harness_stop_dbus(harness *h);
/* SIGTERM, then SIGKILL after 5 s; returns the wait status. */
int harness_stop_broker(harness *h);
/* kill -9 the broker and reap it: 0 or -errno. */
int harness_kill_broker(harness *h);
/* Stop the broker and start it again through the wrapper program named by $@wrapper_var (a path to
 * run, with $@exec_var set to the real broker), as harness_start_broker() does: its result. */
int harness_restart_broker_through(harness *h, const char *wrapper_var, const char *exec_var);
/* Stop the broker and start it again with @name=@value in its environment only (a test build's hook): its
 * result. */
int harness_restart_broker_env(harness *h, const char *name, const char *value);
/* Replace the policy file (name like "10-test.json") with @text. */
void harness_write_policy(const char *name, const char *text);
/* Does the broker's log contain @needle (waits up to 5 s for it)? */
bool harness_log_contains(const char *needle);
void harness_dump_log(void);
/* Each line of file @path as a TAP diagnostic, under a "---- @title ----" line (NULL: the path). */
void harness_dump_file(const char *path, const char *title);
/* Write @text to file @path (created 0644 or truncated); 0 or -errno. */
int harness_write_file(const char *path, const char *text);
/* Reap child @pid within @timeout_ms: its wait status, or -ETIMEDOUT (still running). */
int harness_wait_exit(pid_t pid, int timeout_ms);

/* Absolute path of a cgroup (relative to NODE) as seen in here. */
void harness_cgroup_path(harness *h, const char *rel, char *buf, size_t size);
/* Move @pid into cgroup @rel (relative to NODE). */
int harness_move(harness *h, pid_t pid, const char *rel);

/* A test-client process: unprivileged, in a pod, driven line by line. */
typedef struct tclient {
        pid_t pid;
        int in, out; /* its stdin (we write), its stdout (we read) */
} tclient;

/* Start test-client as @uid:@gid in cgroup @pod, sending vm name @vm. */
int tclient_start(harness *h, tclient *c, const char *pod, uid_t uid, gid_t gid, const char *vm);
/* The same in network namespace @netns (a name made by harness_netns_add(),
 * NULL: the scenario's, which is also the broker's). */
int tclient_start_netns(harness *h, tclient *c, const char *pod, const char *netns, uid_t uid, gid_t gid,
                        const char *vm);

/* Pod network namespaces: a new netns with lo up, bind-mounted at
 * /run/netns/@name (the scenario's private /run), so "ip -n @name" works. */
int harness_netns_add(const char *name);
/* Network namespace @netns (harness_netns_add()) held by a "pause" process
 * (sleep, uid 65534) in cgroup @pod, as Kubernetes has; its pid. */
pid_t harness_pod_with_pause(harness *h, const char *pod, const char *netns);
/* Run @cmd with /bin/sh in the scenario (as root); its stdout in *ret
 * (malloc'd, may be NULL), the exit status returned (-errno on failure). */
int harness_sh(char **ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Wait up to @timeout_ms for @pid to have entered netns @netns (harness_netns_add()). */
bool harness_in_netns(pid_t pid, const char *netns, int timeout_ms);
/* Does @cmd (run with /bin/sh, as harness_sh()) succeed with @needle in its output? */
bool harness_sh_has(const char *needle, const char *cmd);
/* Run @cmd with /bin/sh as @uid:@gid in cgroup @pod and netns @netns. */
int harness_sh_in_pod(harness *h, const char *pod, const char *netns, uid_t uid, gid_t gid, char **ret,
                      const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* Send one command line; the reply line (malloc'd JSON) in *ret. */
int tclient_cmd(tclient *c, char **ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tclient_stop(tclient *c);

/* One command; the reply line, or "{}" (and a diagnostic) when it failed.
 * The caller frees it. */
char *tclient_call(tclient *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Field readers for assertions: -1 / "(missing PATH)" when absent. */
int64_t jint(const char *json, const char *path);
const char *jstr(const char *json, const char *path); /* rotating static buffers */

/* Start @argv (argv[0] a path) as @uid:@gid in cgroup @pod and netns @netns
 * (NULL: the scenario's), stdout and stderr to file @log; returns its pid. */
pid_t harness_spawn_in_pod(harness *h, const char *pod, const char *netns, uid_t uid, gid_t gid, const char *log,
                           char *const *argv);
/* How many of @pid's fds are queues attached to TAP device @dev (a detached
 * queue's fdinfo shows an empty "iff:"). */
int harness_tap_fds(pid_t pid, const char *dev);
/* The thread of QEMU @q named "CPU @n/..." (QEMU's -name debug-threads=on names them), -1: none. */
pid_t harness_vcpu_thread(pid_t q, int n);
/* The last "QEMU pid N" a launcher wrote to @log (-1: none). */
pid_t harness_qemu_pid_in(const char *log);
/* Does a line of file @path contain @needle (waiting up to @timeout_ms)? */
bool harness_file_contains(const char *path, const char *needle, int timeout_ms);

/* How many fds @pid holds (-1: gone); waiting up to @timeout_ms for the count to settle at @want. */
int harness_fd_count(pid_t pid);
int harness_fd_count_settle(pid_t pid, int want, int timeout_ms);
/*
 * What @pid holds once what it was doing is over: the same count 200 ms apart (at most 10 s).  A broker just
 * started, say, may still hold the connection of harness_start_broker()'s probe, and a session just welcomed
 * its memlock helper's fds still on their way.
 */
int harness_fd_count_steady(pid_t pid);
/*
 * strace(1) following the broker's (main thread's) system calls @what (its -e) into @log: its pid once /proc
 * says the broker is traced, or -1, having said why (a skip when strace is not installed: @followed is what
 * is then not followed).  harness_strace_count() stops it and counts the lines of @log (its fd @lfd, closed)
 * that begin with one of @calls (NULL-terminated).
 */
pid_t harness_strace_follow(harness *h, const char *what, const char *log, const char *followed);
int harness_strace_count(pid_t tracer, int lfd, const char *const *calls);
/* strace(1) following the broker's forks (clone, clone3, fork, vfork; its main thread: the loop with --threads
 * 1) into a temporary @log (@size bytes; its fd in *@ret_lfd); harness_forks_count() stops it, removes the log
 * and says how many it saw (-1: strace did not follow, having said why). */
pid_t harness_forks_follow(harness *h, char *log, size_t size, int *ret_lfd);
int harness_forks_count(pid_t tracer, int lfd, const char *log);
/* The open fds of @pid and what each is ("3:socket:[123] 4:anon_inode:[pidfd]"), for a diagnostic. */
void harness_fd_list(pid_t pid, char *buf, size_t size);
/* Are all of @pid's threads stopped (SIGSTOP), waiting up to 5 s for it? */
bool harness_all_stopped(pid_t pid);
/* VmRSS of @pid in KiB (-1: gone). */
long harness_rss_kib(pid_t pid);

/* A raw SEQPACKET connection to the broker (no library), from this process. */
int raw_connect(void);
int raw_send(int fd, const void *buf, size_t len);
/* Receive one datagram as a malloc'd NUL-terminated string (NULL on EOF). */
char *raw_recv(int fd, int timeout_ms);
/* A TCP socket over lo whose last close waits @linger_s s (a peer, *@ret_peer, that never reads; SO_LINGER);
 * -errno */
int harness_lingering_socket(int linger_s, int *ret_peer);
/* raw_send() then raw_recv() with 5 s; NULL when either failed. */
char *raw_call(int fd, const char *msg);
/* raw_connect() and a hello (client "raw"); the fd once welcomed, else -1. */
int raw_hello(void);

/* Tiny JSON field readers for assertions (via the project's JSON parser). */
bool json_field_str(const char *json, const char *path, char *buf, size_t size);
bool json_field_i64(const char *json, const char *path, int64_t *ret);

/* A whole small file into @buf ("(unreadable)" when it cannot be read). */
void harness_read_file(const char *path, char *buf, size_t size);
/* The children of every thread of @pid (/proc/PID/task/TID/children: a helper's parent is the thread that
 * forked it), space-separated into @buf; a broker's forker (named "delegate-forker", delegate-broker(8)) stands
 * for its own children, the memlock helpers it forked for the broker, but its spare (at nice 19, named
 * "delegate-spare" or, just forked, as the forker; the forker sets it to nice 0 before it gives it its role,
 * so that it counts as a helper before it has run). */
void harness_children(pid_t pid, char *buf, size_t size);
/* All of them, whatever ids they hold (a child just forked may not have changed its ids yet): up to @max into
 * @ret; how many there are. */
size_t harness_children_all(pid_t pid, pid_t *ret, size_t max);
/* Those of them running as @uid (a broker's memlock helpers), up to @max into @ret; how many. */
size_t harness_children_as(pid_t pid, uid_t uid, pid_t *ret, size_t max);
/* The broker's forker, its child named "delegate-forker"; the forker's spare helper, its child at nice 19
 * named "delegate-spare" (not yet a helper: harness_children() leaves it out); 0 when there is none. */
pid_t harness_forker(pid_t broker);
pid_t harness_spare(pid_t broker);
/* Its first line, without the newline. */
void harness_read_line(const char *path, char *buf, size_t size);
/* The cgroup v2 path of thread @tid of @pid, from /proc ("(unreadable)" when gone);
 * rotating static buffers. */
const char *harness_task_cgroup(pid_t pid, pid_t tid);

/* sched_getattr(2) of @tid (struct sched_attr, SCHED_ATTR_SIZE_VER0);
 * sched_policy is 999 when the call fails. */
typedef struct harness_sched_attr {
        uint32_t size, sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime, sched_deadline, sched_period;
} harness_sched_attr;
harness_sched_attr harness_sched_getattr(pid_t tid);

/* harness-qmp.c: the test's own QMP client for a monitor QEMU serves at
 * @path ("-qmp unix:PATH,server=on,wait=off").  Connects (retrying up to
 * @timeout_ms while the socket does not exist yet), reads the greeting and
 * negotiates capabilities; returns the fd or -errno. */
int harness_qmp_open(const char *path, int timeout_ms);
/* Send one command (a JSON object); the answer line, malloc'd, events
 * skipped; NULL when QEMU closed the monitor or did not answer. */
char *harness_qmp(int fd, const char *command_json);
/* query-status's "status" ("running", "inmigrate", ...), malloc'd. */
char *harness_qmp_status(int fd);

/* Wait up to 5 s for @cond to hold (checked every 20 ms); its last value. */
#define WAIT_FOR(cond)                                                                                      \
        ({                                                                                                  \
                bool _ok = false;                                                                           \
                for (int _i = 0; _i < 250 && !(_ok = (cond)); _i++)                                         \
                        usleep(20000);                                                                      \
                _ok;                                                                                        \
        })

/* RLIMIT_MEMLOCK of @pid straight from /proc/PID/limits. */
int read_memlock(pid_t pid, uint64_t *soft, uint64_t *hard);

/* tests/lib/erase-check.c's report at @path (an empty string when there is none); free() it. */
char *harness_erase_report(const char *path);
/* Findings (FREED/REALLOC-MOVED/LIVE lines) about the process named @who in @report, each to TAP diag; their count. */
unsigned harness_erase_findings(const char *report, const char *who);
