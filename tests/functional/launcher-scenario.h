/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-scenario.h - what the launcher scenarios share: the pod, its
 * policies and VM spec, starting and stopping the launcher, reading QEMU's
 * threads and what is left after it (launcher-scenario.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define VMDIR "/run/delegate-test/vm"
#define LOG VMDIR "/launcher.log"

extern const char policy_all[];
/* the same, without realtime: a VM asking for it must not start */
extern const char policy_no_sched[];

typedef struct spec_opts {
        const char *name;
        uint64_t memlock;
        bool steps;        /* realtime vCPU 1 and the housekeeping cgroup */
        const char *fwlog; /* firmware log file */
        const char *qmp;   /* NULL, or a second QMP monitor for the test at this path */
} spec_opts;

void write_file(const char *path, const char *text);
/* The pod's own network namespace @netns with a bridge br0. */
void pod_net(const char *netns);
/* A small VM (SeaBIOS idles without a disk); source and target of a
 * migration differ only in what is outside the guest's device model. */
void write_spec(const char *path, const spec_opts *o);
void vm_dir(void);
/* pod-a with br0, and VMDIR/vm.json for vm-a (realtime, housekeeping; @qmp: a test monitor) */
void prepare_qmp(harness *h, uint64_t memlock, const char *qmp);
void prepare(harness *h, uint64_t memlock);
/* delegate-launcher --spec @spec [--incoming @incoming] as uid 1000 in @pod and @netns */
pid_t spawn_launcher(harness *h, const char *pod, const char *netns, const char *spec, const char *log,
                     const char *incoming);
pid_t start_launcher(harness *h);
void dump_launcher_log(void);
pid_t qemu_pid_from_log(void);
const char *status_field(pid_t pid, const char *field);
/*
 * QEMU's threads, from the kernel: the 2 vCPUs stay in the pod cgroup, every
 * other thread is in housekeeping, vCPU 1 is SCHED_FIFO 1 with reset-on-fork
 * and vCPU 0 is untouched.  @when prefixes the descriptions.
 */
void check_threads(pid_t q, const char *when);
/* Gone, or a zombie nobody reaped yet: either way it runs no more. */
bool pid_gone(pid_t pid);
bool wait_gone(pid_t pid, int timeout_ms);
bool link_exists(const char *netns, const char *dev);
bool cgroup_exists(harness *h, const char *rel);
/* The broker's clean-up is asynchronous to the test: wait (bounded) for it. */
bool wait_link_gone(const char *netns, const char *dev);
bool wait_cgroup_gone(harness *h, const char *rel);
/* Nothing of the VM is left: no TAP device in @netns, no housekeeping cgroup, no process in the pod. */
void nothing_left(harness *h, const char *netns);
/* Line number (from 1) of the first line of @log containing @needle; 0 when absent. */
int log_line(const char *log, const char *needle);
/* Start vm-a in pod-a and wait until the launcher says it runs; its QEMU pid, or -1. */
pid_t start_running(harness *h, pid_t *ret_launcher);
void stop_launcher(pid_t l);
