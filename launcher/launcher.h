/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher.h - delegate-launcher's shared types: the VM spec, QEMU and its
 * QMP connection, and the steps delegated to the broker.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>

#include "cpus.h"
#include "json.h"
#include "util.h"

#define SPEC_MAX_NICS 8
#define SPEC_MAX_EXTRA_ARGS 64
#define SPEC_MAX_VCPUS 256
#define NIC_MAX_QUEUES 16
#define SPEC_MAX_DISKS 16
#define SPEC_KEY_MAX (64 * 1024) /* a disk key file's size at most */

/* memlock "auto": guest RAM + this, when QEMU locks its memory */
/* Guest RAM at most: x86-64's 52-bit physical address space (4096T); the memlock sum stays below 2^64 */
#define SPEC_MAX_MEMORY (1ULL << 52)
#define MEMLOCK_OVERHEAD_BASE (256ULL << 20)
#define MEMLOCK_OVERHEAD_PER_VCPU (16ULL << 20)

typedef enum nic_vhost {
        NIC_VHOST_OFF,      /* QEMU's userspace virtio-net (the default) */
        NIC_VHOST_ON,       /* vhost-net fds from the broker, or the VM does not start */
        NIC_VHOST_OPTIONAL, /* vhost-net when the broker can give it, else the plain path */
} nic_vhost;

typedef struct nic_spec {
        char id[32];
        char bridge[16];
        unsigned queues; /* default 1 */
        unsigned mtu;    /* 0: the broker's default */
        char mac[18];    /* "" : QEMU's default */
        bool bridge_create; /* ask the broker for the bridge first (bridge.create) */
        char enslave[4][16]; /* and to put these pod interfaces on it */
        size_t n_enslave;
        nic_vhost vhost; /* /dev/vhost-net fds from the broker */
} nic_spec;

typedef enum disk_format { DISK_RAW, DISK_QCOW2 } disk_format;
typedef enum disk_bus { DISK_VIRTIO_BLK, DISK_VIRTIO_SCSI } disk_bus;
typedef enum disk_cache { DISK_CACHE_WRITEBACK, DISK_CACHE_NONE, DISK_CACHE_WRITETHROUGH, DISK_CACHE_DIRECTSYNC,
                          DISK_CACHE_UNSAFE } disk_cache;

typedef struct disk_spec {
        char id[32];
        char *path;        /* image file in the pod */
        disk_format format;
        disk_bus bus;
        bool readonly;
        bool boot;         /* the firmware boots this disk first (bootindex=1) */
        disk_cache cache;
        char *key_file;    /* LUKS passphrase file (a Secret volume); NULL: not encrypted */
        int key_fd;        /* at run time: the sealed memfd QEMU reads the key from; -1: none */
} disk_spec;

typedef struct console_spec {
        char *file;   /* the guest's serial console appended to this file, or */
        char *socket; /* served on this unix socket (QEMU listens); NULL both: none */
} console_spec;

typedef struct vm_spec {
        char *name;
        char *qemu;     /* binary: a path, or a name looked up in $PATH */
        char *accel;    /* "auto", "kvm", "tcg" */
        uint64_t memory; /* guest RAM, bytes */
        unsigned vcpus;
        bool realtime;
        cpu_mask rt_vcpus;      /* vCPU indices that get SCHED_FIFO */
        int rt_priority;
        bool rt_dedicated;      /* safety "dedicated": on host CPUs rt_cpus, no RLIMIT_RTTIME */
        cpu_mask rt_cpus;       /* host CPUs for the realtime vCPUs (dedicated) */
        uint64_t rt_rttime_us;  /* safety "rttime": the RLIMIT_RTTIME QEMU runs under */
        char *housekeeping;     /* cgroup for non-vCPU threads; NULL: none */
        bool memlock_auto;
        uint64_t memlock;       /* bytes when not auto */
        bool mem_lock;          /* QEMU locks guest memory (-overcommit mem-lock=on) */
        nic_spec nics[SPEC_MAX_NICS];
        size_t n_nics;
        bool kvmi;              /* QEMU has KVM-VMI's introspection object (kvmi-v12) */
        bool kvmi_keyed;        /* a shared secret in the handshake (default) */
        unsigned kvmi_reconnect_s; /* QEMU's chardev reconnect=N */
        char *kernel;   /* direct kernel boot: files readable by the pod's uid; NULL: firmware */
        char *initrd;
        char *cmdline;
        disk_spec disks[SPEC_MAX_DISKS];
        size_t n_disks;
        console_spec console;
        char *firmware_log;     /* SeaBIOS debug console to this file; NULL: none */
        unsigned shutdown_timeout_s;
        char *extra_args[SPEC_MAX_EXTRA_ARGS];
        size_t n_extra_args;
} vm_spec;

/* CLOCK_MONOTONIC (common's now_usec()) as signed numbers, for the launcher's deadline arithmetic */
static inline int64_t mono_us(void) {
        return (int64_t) now_usec();
}
static inline int64_t mono_ms(void) {
        return mono_us() / 1000;
}

/* launcher-spec.c */
/**
 * vm_spec_load() - read and validate the VM spec at @path.  On error returns
 * -errno with @err saying "FILE:LINE:COLUMN: what is wrong".
 */
int vm_spec_load(const char *path, vm_spec *ret, char *err, size_t size);
int vm_spec_parse(const char *file, const char *text, size_t len, vm_spec *ret, char *err, size_t size);
void vm_spec_done(vm_spec *s);
/**
 * vm_spec_memlock() - the one place that computes QEMU's RLIMIT_MEMLOCK:
 * with "auto", guest RAM + 256 MiB + 16 MiB per vCPU when QEMU locks its
 * memory, else 0 (no request); otherwise the spec's bytes.
 */
uint64_t vm_spec_memlock(const vm_spec *s);

/* launcher-qmp.c: QMP over a connected stream socket */
typedef struct qmp {
        int fd;
        char *buf; /* QMP_BUF bytes */
        size_t len;
        bool shutdown_seen; /* a SHUTDOWN event arrived */
        bool resume_seen;   /* a RESUME event arrived: the guest runs */
} qmp;
#define QMP_BUF (256 * 1024)

int qmp_init(qmp *q, int fd);
void qmp_done(qmp *q);
/* Read the greeting and negotiate capabilities. */
int qmp_handshake(qmp *q, int timeout_ms, char *err, size_t size);
/**
 * qmp_execute() - run @cmd with @args_json (may be NULL); events read on
 * the way are noted.  Returns 0 with the "return" value in *ret (may be
 * NULL), -EIO with @err holding QEMU's error, -ETIMEDOUT, or -errno.
 */
int qmp_execute(qmp *q, const char *cmd, const char *args_json, json_value **ret, int timeout_ms, char *err,
                size_t size);
/* Read whatever is available without blocking (events); -ECONNRESET on EOF. */
int qmp_drain(qmp *q);

/* launcher-qmp-parse.c: the pure parsing half of the QMP client (fuzzed) */
typedef enum qmp_kind {
        QMP_GREETING,
        QMP_EVENT,
        QMP_REPLY,
} qmp_kind;
/**
 * qmp_take_line() - cut the first complete line out of the @*len bytes at
 * @buf (consumed and erased, parsed or not).  Returns 0 with the object in
 * *ret (free with json_free()), -EAGAIN when no line is complete, -EBADMSG
 * when the line is not a JSON object.
 */
int qmp_take_line(char *buf, size_t *len, json_value **ret);
qmp_kind qmp_classify(const json_value *v);
bool qmp_is_shutdown_event(const json_value *v);
/* Is @v the QMP event @name? */
bool qmp_is_event(const json_value *v, const char *name);
/**
 * qmp_reply_parse() - the answer @v to command @cmd with @id: -EAGAIN when
 * it answers another id, -EIO with @err holding QEMU's error, -EBADMSG with
 * @err when it has no "return", else 0 and (when @ret is not NULL) the
 * "return" value moved out of @v into *ret.
 */
int qmp_reply_parse(json_value *v, const char *cmd, uint64_t id, json_value **ret, char *err, size_t size);
/**
 * qmp_vcpu_threads_parse() - query-cpus-fast's return value @v into @tids
 * (@max slots, indexed by cpu-index).  Returns 0 with the vCPU count in
 * *ret_n, or -EBADMSG for anything but an array of distinct cpu-index /
 * thread-id pairs covering 0..n-1 with positive thread ids.
 */
int qmp_vcpu_threads_parse(const json_value *v, pid_t *tids, size_t max, size_t *ret_n);

/* launcher-qemu.c */
#define QEMU_TAIL 4096

typedef struct qemu_proc {
        pid_t pid;
        int gate; /* write end: closing it lets the child exec QEMU */
        int err_fd; /* read end of QEMU's stderr (non-blocking) */
        char tail[QEMU_TAIL]; /* the last bytes QEMU wrote there */
        size_t tail_len;
        char **argv;
        size_t argc;
} qemu_proc;

/**
 * qemu_build_argv() (launcher-cmdline.c) - QEMU's command line for @s, with QMP on fd @qmp_fd and
 * each NIC's TAP fds from @tap_fds / @n_tap_fds (per NIC, queues of them).
 */
int qemu_build_argv(const vm_spec *s, const char *accel, int qmp_fd, int *const *tap_fds, const size_t *n_tap_fds,
                    const char *incoming, qemu_proc *q);
/**
 * qemu_fork() - fork the QEMU process, held before exec until
 * qemu_release(): its pid exists (for per-pid requests) before QEMU runs.
 * @keep_fds stay open across exec; everything else is close-on-exec.
 */
int qemu_fork(const vm_spec *s, qemu_proc *q, const int *keep_fds, size_t n_keep);
int qemu_release(qemu_proc *q);
/* Append one argument, printf-style, to @q's argv. */
int qemu_arg(qemu_proc *q, const char *fmt, ...) _printf_(2, 3);
void qemu_proc_done(qemu_proc *q);
/* "kvm" when /dev/kvm can be opened and used, else "tcg" (for "auto"). */
const char *qemu_pick_accel(const vm_spec *s, char *why, size_t size);

/* launcher-devices.c: boot source, disks and their keys, console */
/**
 * devices_prepare() - check that the boot files and disk images can be read
 * by the launcher's (the pod's) uid, and turn each disk's key file into a
 * sealed memfd in its key_fd (the key erased from the launcher's memory).
 * Returns 0, or -errno with @err naming the file and what is wrong.
 */
int devices_prepare(vm_spec *s, char *err, size_t size);
/**
 * secret_memfd() - a memfd named @name holding the @len bytes at @data,
 * sealed against writes, growth, shrinking and further seals, for QEMU's
 * "-object secret,format=raw,file=/dev/fd/N": returned (close-on-exec), or
 * -errno with @err saying what failed for @what.  The caller erases @data.
 */
int secret_memfd(const char *name, const void *data, size_t len, const char *what, char *err, size_t size);
/* Close the key memfds (QEMU holds its own copies once it runs). */
void devices_close_keys(vm_spec *s);
/**
 * devices_argv() - QEMU's arguments for the boot source, the disks (a
 * -blockdev chain each, secret objects reading the key memfds) and the
 * console.  Returns 0 or -ENOMEM.
 */
int devices_argv(const vm_spec *s, qemu_proc *q);

/* launcher-kvmi.c: QEMU's introspection channel, handed to the broker */
typedef struct kvmi_hand {
        int lfd;          /* the socket QEMU connects to, in the pod */
        char dir[64];     /* private directory: the socket and the secret */
        char sock[96];
        int key_fd;       /* the secret in a sealed memfd, for QEMU's -object secret; -1 once QEMU has it */
        char secret[65];  /* QEMU holds it for good: given again to a restarted broker */
        bool keyed;
        unsigned handed;
} kvmi_hand;
/**
 * kvmi_hand_prepare() - kvmi.attach, a listening socket and the secret file
 * in a private directory, and QEMU's options appended to @s's extra args.
 * Returns 0 or -errno with @err.
 */
int kvmi_hand_prepare(delegate_ctx *ctx, vm_spec *s, kvmi_hand *k, char *err, size_t size);
/*
 * The broker restarted (its KVMI channels do not survive): kvmi.attach
 * again with the secret QEMU already holds, so its next connection is
 * answered.  Says what happened.
 */
void kvmi_hand_reattach(delegate_ctx *ctx, const vm_spec *s, kvmi_hand *k);
/* QEMU holds its copy of the secret's memfd: close ours. */
void kvmi_hand_forget_key(kvmi_hand *k);
/* Accept QEMU's pending connection and hand it over with kvmi.connect; says what the broker did. */
void kvmi_hand_accept(delegate_ctx *ctx, const vm_spec *s, kvmi_hand *k);
void kvmi_hand_done(kvmi_hand *k);

/* launcher-qemu-log.c: QEMU's stderr goes through the launcher */
/* A wait status as an exit code: the code, or 128 + the signal. */
int qemu_status_code(int st);
/**
 * qemu_stderr_pump() - forward what QEMU wrote to its stderr to ours,
 * keeping the last QEMU_TAIL bytes.  0 when nothing more is there now,
 * -EPIPE once QEMU's end is closed (err_fd is closed then).
 */
int qemu_stderr_pump(qemu_proc *q);
/* After QEMU exited: forward the rest of its stderr, up to EOF (at most 2 s). */
void qemu_stderr_drain(qemu_proc *q);
/* Its last @lines lines of stderr, joined by " | ", printable, in @buf. */
const char *qemu_last_words(const qemu_proc *q, unsigned lines, char *buf, size_t size);
/**
 * qemu_exit_report() - after a step failed: if QEMU exits within @wait_ms,
 * reap it, say its exit status and last words on stderr, set q->pid to -1
 * and return true; false while it still runs.
 */
bool qemu_exit_report(const vm_spec *s, qemu_proc *q, int wait_ms);

/* launcher-isolate.c */
/* No capabilities and no_new_privs, from the start. */
int launcher_drop_privileges(char *err, size_t size);
/* The supervisor's seccomp allowlist, once QEMU runs. */
int launcher_seccomp(char *err, size_t size);

/* launcher-log.c: "delegate-launcher[VM]: ..." on stdout */
void launcher_say(const vm_spec *s, const char *fmt, ...) _printf_(2, 3);

/* launcher-steps.c: the delegated steps, in order, while QEMU is paused */
typedef struct launch {
        vm_spec *s;
        const char *socket;   /* the broker's; NULL: the default */
        const char *incoming; /* a migration URI; NULL: start the guest */
        int64_t t_start;      /* CLOCK_MONOTONIC, us: when the launcher started */
        delegate_ctx *ctx;
        qemu_proc qp;
        qmp q;
        kvmi_hand kh;
        int fds[SPEC_MAX_NICS][NIC_MAX_QUEUES]; /* each NIC's TAP (and vhost-net) fds until QEMU has them */
        size_t n_fds[SPEC_MAX_NICS];
        int qmp_pair[2];
} launch;
/* Start the clock; nothing held yet.  @s is loaded later, before launch_steps(). */
void launch_init(launch *l, vm_spec *s, const char *socket, const char *incoming);
/**
 * launch_steps() - the session, the TAP devices, QEMU forked at its gate,
 * memlock, exec, then over QMP the vCPU threads, housekeeping and realtime,
 * and cont (or migrate-incoming).  Returns 0 with the guest running (or
 * migrating in), or -errno, said on stderr.
 */
int launch_steps(launch *l);
/* Stop QEMU if it still runs (saying how it ended if it did), close and free everything. */
void launch_done(launch *l);

/* launcher-supervise.c */
/**
 * supervise() - the VM runs: signals from @sfd, QMP, the broker connection,
 * KVMI connections and QEMU's stderr, until QEMU exits.  Returns its exit
 * code (the signal's 128 + n), or 1 when polling fails; QEMU is reaped.
 */
int supervise(launch *l, int sfd);
