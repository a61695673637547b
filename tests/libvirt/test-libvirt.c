/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-libvirt - Debian 12's libvirtd (9.0, monolithic, session mode
 * "qemu:///session") run unmodified as uid 107 ("qemu", KubeVirt's) in the
 * pod sandbox of tests/lib/harness.c: pod-a's cgroup and network namespace,
 * HOME and XDG_RUNTIME_DIR of its own, a passwd entry for uid 107 and a
 * /dev/net/tun of mode 0666 as a pod image and a device plugin give it
 * (bind mounts in the scenario's private mount namespace; the host's files
 * are not touched).  Its domains are TCG (type 'qemu'): no guest OS, no
 * disk, SeaBIOS finds nothing to boot and waits; enough for libvirt to
 * reach every privileged step it takes at start.
 *
 * The three features a VM in a pod wants, one domain each:
 *   vcpusched  <vcpusched vcpus='0' scheduler='fifo' priority='1'/>
 *   tap        a managed 2-queue TAP (<interface type='ethernet'>,
 *              target dev TAP_DEV, <driver queues='2'/>)
 *   locked     <memoryBacking><locked/></memoryBacking>
 *
 *   libvirt-no-interception  a plain domain starts (the sandbox is fine),
 *                 each of the three fails with libvirt's own error for the
 *                 EPERM it got, leaving nothing behind; the broker runs with
 *                 a policy that would allow them, so the failure is the
 *                 missing interception, not the policy.
 *   libvirt-intercepted  the same libvirtd under delegate-run (seccomp user
 *                 notification, the broker performs the calls): a domain
 *                 with <vcpusched> and the managed TAP starts; the kernel
 *                 shows its vCPU thread SCHED_FIFO 1 with RESET_ON_FORK on
 *                 the rule's dedicated CPU, and the TAP in pod-a's netns,
 *                 owned by uid 107, up, with QEMU holding its 2 queues (not in
 *                 the broker's netns).  <locked/> under "unlimited": "max":
 *                 libvirt's prlimit(RLIMIT_MEMLOCK, unlimited) succeeds and
 *                 QEMU execs with the rule's maximum (read from
 *                 /proc/self/limits by a wrapper that execs QEMU).  virsh
 *                 destroy takes the TAP with QEMU's queues (not persistent);
 *                 a new session that ends with the domain running (libvirtd
 *                 and so delegate-run exit, QEMU keeps the queues) has its
 *                 TAP removed by the broker.
 *   libvirt-domain-restart  destroy and start the same domain twice in one
 *                 session: the second start gets its TAP too (the record
 *                 of the first, vanished with QEMU, is forgotten: a new
 *                 creation, not a third queue of it), checked in the
 *                 kernel each time.
 *   libvirt-locked-deny  <locked/> under "unlimited": "deny": start fails
 *                 with libvirt's memlock error (EPERM), the broker's denial
 *                 names the rule.
 *
 * The memlock maximum is bounded by this machine: CAP_SYS_RESOURCE is not
 * in the bounding set, so nobody can raise a hard RLIMIT_MEMLOCK above the
 * harness's H (8 MiB here), and QEMU 7.2's -overcommit mem-lock=on is
 * mlockall(MCL_CURRENT|MCL_FUTURE) of its whole address space: with the
 * rule's H/2, QEMU then stops with its own "locking memory failed".  Where
 * the broker keeps CAP_SYS_RESOURCE the rule says 4G and the domain runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define NETNS "pod-a"
#define QEMU_UID 107
#define LV_DIR "/run/delegate-test/libvirt"
#define LV_HOME LV_DIR "/home"
#define LV_RUN LV_DIR "/run"
#define LV_LOG LV_DIR "/libvirtd.log"
#define LV_SOCK LV_RUN "/libvirt/libvirt-sock"
#define LV_QEMU_LOGS LV_HOME "/.cache/libvirt/qemu/log"
#define LV_PIDS LV_RUN "/libvirt/qemu/run"
#define TAP_DEV "vmtap0"
#define LIBVIRTD "/usr/sbin/libvirtd"
#define VIRSH "/usr/bin/virsh"
#define EMULATOR "/usr/bin/qemu-system-x86_64"
/* what libvirtd and virsh get as their whole environment */
#define LV_ENV "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" LV_HOME, "XDG_RUNTIME_DIR=" LV_RUN, "USER=qemu"
#define LV_ENV_SH "PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=" LV_HOME " XDG_RUNTIME_DIR=" LV_RUN " USER=qemu"

/*
 * The pod's rule: realtime FIFO 1 on dedicated CPU 1, the TAP TAP_DEV with
 * up to 2 queues, RLIMIT_MEMLOCK up to %s with %s as the answer to a
 * request for unlimited (the intercepted scenarios write it with their
 * values and restart the broker, see use_policy()).
 */
#define POLICY_FMT                                                                                                 \
        "{ \"version\": 1,\n"                                                                                       \
        "  \"rules\": [\n"                                                                                          \
        "    { \"name\": \"libvirt-pod\",\n"                                                                        \
        "      \"match\": { \"uid\": 107, \"cgroup\": \"/kubepods.slice/pod-a\" },\n"                               \
        "      \"memlock\": { \"max\": %s%s },\n"                                                                   \
        "      \"sched\": { \"policies\": [\"fifo\"], \"max_priority\": 1, \"safety\": \"dedicated\", \"cpus\": \"1\" },\n" \
        "      \"tap\": { \"template\": \"" TAP_DEV "\", \"max_queues\": 2 } }\n"                                    \
        "  ]\n"                                                                                                     \
        "}\n"

/* libvirt-no-interception's: the same grants, so that its failures are the
 * missing interception and not the policy (written without the key only the
 * interception reads, so it loads with any broker of API 1) */
static const char policy_plain[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"libvirt-pod\",\n"
        "      \"match\": { \"uid\": 107, \"cgroup\": \"/kubepods.slice/pod-a\" },\n"
        "      \"memlock\": { \"max\": \"unlimited\" },\n"
        "      \"sched\": { \"policies\": [\"fifo\"], \"max_priority\": 1, \"safety\": \"dedicated\", \"cpus\": \"1\" },\n"
        "      \"tap\": { \"template\": \"" TAP_DEV "\", \"max_queues\": 2 } }\n"
        "  ]\n"
        "}\n";

/* each line of @text as a TAP diagnostic after "@prefix: " */
static void diag_lines(const char *prefix, const char *text) {
        for (const char *l = text; l && *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0))
                if (l[0] != '\n')
                        tap_diag("%s: %.*s", prefix, (int) strcspn(l, "\n"), l);
}

static void write_file(const char *path, const char *text) {
        if (harness_write_file(path, text) < 0)
                tap_ok(0, "write %s", path);
}

/* A copy of /etc/@name with @line added, bind-mounted over it (this mount namespace only). */
static int bind_etc_with(const char *name, const char *line) {
        char src[64], dst[128];
        snprintf(src, sizeof(src), "/etc/%s", name);
        snprintf(dst, sizeof(dst), LV_DIR "/%s", name);
        if (harness_sh(NULL, "cp %s %s && echo '%s' >> %s", src, dst, line, dst) != 0)
                return -EIO;
        return mount(dst, src, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
}

/*
 * The pod: its netns, what a pod image and KubeVirt's device plugins give
 * the "qemu" user (a passwd entry, /dev/net/tun usable by it), and
 * libvirt's per-user directories.  Skips when libvirt is not installed.
 */
static void pod_prepare(void) {
        if (access(LIBVIRTD, X_OK) < 0 || access(VIRSH, X_OK) < 0 || access(EMULATOR, X_OK) < 0)
                tap_skip_all("libvirt is not installed (libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients, "
                             "qemu-system-x86: tools/install-deps.sh)");
        tap_is_int(harness_netns_add(NETNS), 0, "pod-a gets its own network namespace");
        tap_ok(mkdir(LV_DIR, 0755) == 0 && mkdir(LV_HOME, 0700) == 0 && mkdir(LV_RUN, 0700) == 0 &&
                       chown(LV_HOME, QEMU_UID, QEMU_UID) == 0 && chown(LV_RUN, QEMU_UID, QEMU_UID) == 0,
               "HOME and XDG_RUNTIME_DIR for uid %d", QEMU_UID);
        tap_ok(bind_etc_with("passwd", "qemu:x:107:107:qemu:" LV_HOME ":/bin/sh") == 0 &&
                       bind_etc_with("group", "qemu:x:107:") == 0,
               "uid 107 is 'qemu' in this sandbox's /etc/passwd (libvirt looks the user up)");
        bool tun = mount("tmpfs", "/dev/net", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") == 0 &&
                   mknod("/dev/net/tun", S_IFCHR | 0666, makedev(10, 200)) == 0 && chmod("/dev/net/tun", 0666) == 0;
        tap_ok(tun, "/dev/net/tun of mode 0666, as a pod gets it");
}

/* libvirtd as uid 107 in pod-a (@wrap: argv before it, NULL-terminated, or NULL); waits for its socket. */
static pid_t libvirtd_start(harness *h, const char *const *wrap) {
        const char *argv[24] = { "/usr/bin/env", "-i", LV_ENV };
        size_t n = 6;
        for (size_t i = 0; wrap && wrap[i] && n < 20; i++)
                argv[n++] = wrap[i];
        argv[n++] = LIBVIRTD;
        argv[n] = NULL;
        pid_t pid = harness_spawn_in_pod(h, POD_A, NETNS, QEMU_UID, QEMU_UID, LV_LOG, (char *const *) argv);
        bool up = false;
        for (int i = 0; pid > 0 && i < 600 && !up; i++) {
                up = access(LV_SOCK, F_OK) == 0;
                if (!up && waitpid(pid, NULL, WNOHANG) == pid) {
                        pid = -1;
                        break;
                }
                usleep(50000);
        }
        tap_ok(up, "libvirtd runs as uid %d in pod-a, session mode (%s)", QEMU_UID, LV_SOCK);
        if (!up)
                harness_dump_file(LV_LOG, "libvirtd log");
        return pid;
}

/* SIGTERM, its exit awaited: the end of the session */
static void libvirtd_stop(pid_t pid) {
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        int st = harness_wait_exit(pid, 30000);
        if (st == -ETIMEDOUT) {
                kill(pid, SIGKILL);
                st = harness_wait_exit(pid, 5000);
        }
        tap_ok(st >= 0 && WIFEXITED(st), "libvirtd exits on SIGTERM (status 0x%x)", st);
}

/* virsh -c qemu:///session @args as uid 107 in pod-a; its output (stdout and stderr) in *ret; exit status. */
static int virsh(harness *h, char **ret, const char *args) {
        return harness_sh_in_pod(h, POD_A, NETNS, QEMU_UID, QEMU_UID, ret,
                                 "env -i " LV_ENV_SH " " VIRSH " -q -c qemu:///session %s 2>&1", args);
}

/*
 * The domain XML of @name run by @emulator, with @extra inside <domain> and
 * @devices inside <devices>, written to LV_DIR/@name.xml (readable by uid 107).  TCG, 32 MiB,
 * one vCPU, no disk: SeaBIOS finds nothing to boot.
 */
static void domain_xml(const char *name, const char *emulator, const char *extra, const char *devices) {
        char xml[4096], path[256];
        snprintf(xml, sizeof(xml),
                 "<domain type='qemu'>\n"
                 "  <name>%s</name>\n"
                 "  <memory unit='MiB'>32</memory>\n"
                 "  <vcpu>1</vcpu>\n"
                 "%s"
                 "  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\n"
                 "  <features><tcg><tb-cache unit='MiB'>16</tb-cache></tcg></features>\n"
                 "  <devices>\n"
                 "    <emulator>%s</emulator>\n"
                 "%s"
                 "    <memballoon model='none'/>\n"
                 "  </devices>\n"
                 "</domain>\n",
                 name, extra, emulator, devices);
        snprintf(path, sizeof(path), LV_DIR "/%s.xml", name);
        write_file(path, xml);
}

#define XML_VCPUSCHED "  <cputune><vcpusched vcpus='0' scheduler='fifo' priority='1'/></cputune>\n"
#define XML_LOCKED "  <memoryBacking><locked/></memoryBacking>\n"
#define XML_TAP                                                                                                    \
        "    <interface type='ethernet'>\n"                                                                         \
        "      <target dev='" TAP_DEV "' managed='yes'/>\n"                                                         \
        "      <model type='virtio'/>\n"                                                                            \
        "      <driver queues='2'/>\n"                                                                              \
        "    </interface>\n"

/* virsh create LV_DIR/@name.xml; its output in *ret (malloc'd); exit status */
static int domain_create(harness *h, const char *name, char **ret) {
        char args[256];
        snprintf(args, sizeof(args), "create " LV_DIR "/%s.xml", name);
        return virsh(h, ret, args);
}

/* QEMU's pid from libvirt's pid file of domain @name (-1: none) */
static pid_t qemu_pid(const char *name) {
        char path[256], buf[64];
        snprintf(path, sizeof(path), LV_PIDS "/%s.pid", name);
        harness_read_line(path, buf, sizeof(buf));
        return atoi(buf) > 0 ? atoi(buf) : -1;
}

/* Domain @name must start (@what says which, for the assertion); its QEMU's pid (-1: none). */
static pid_t domain_start(harness *h, const char *name, const char *what) {
        char *out = NULL;
        int r = domain_create(h, name, &out);
        tap_is_int(r, 0, "%s", what);
        if (r != 0)
                diag_lines("virsh", out);
        free(out);
        return r == 0 ? qemu_pid(name) : -1;
}

/* Is a process of pod-a running @exe? (libvirt kills QEMU when a start fails) */
static int pod_processes_of(harness *h, const char *exe) {
        char path[600], buf[65536];
        harness_cgroup_path(h, POD_A "/cgroup.procs", path, sizeof(path));
        harness_read_file(path, buf, sizeof(buf));
        int n = 0;
        for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
                char link[64], target[512];
                snprintf(link, sizeof(link), "/proc/%s/exe", l);
                ssize_t k = readlink(link, target, sizeof(target) - 1);
                if (k > 0) {
                        target[k] = 0;
                        n += strcmp(target, exe) == 0;
                }
        }
        return n;
}

static bool tap_exists(void) {
        return harness_sh(NULL, "ip -n " NETNS " link show " TAP_DEV " >/dev/null 2>&1") == 0;
}

static void dump_qemu_log(const char *name) {
        char path[256];
        snprintf(path, sizeof(path), LV_QEMU_LOGS "/%s.log", name);
        harness_dump_file(path, NULL);
}

/*
 * One domain that libvirt must fail to start with @want (its message for
 * the EPERM it got) in virsh's output, and that leaves no domain, no QEMU
 * and no TAP behind.
 */
static void expect_start_fails(harness *h, const char *name, const char *feature, const char *want) {
        char *out = NULL;
        int r = domain_create(h, name, &out);
        tap_ok(r != 0, "%s: the domain does not start (virsh exit %d)", feature, r);
        diag_lines("virsh", out);
        /* libvirt's child writes its error to the domain's log, from which
         * libvirtd copies it into its answer unless it reads the log first */
        char path[256], log[65536], why[512] = "(not found)";
        snprintf(path, sizeof(path), LV_QEMU_LOGS "/%s.log", name);
        harness_read_file(path, log, sizeof(log));
        const char *w = out && strstr(out, want) ? strstr(out, want) : strstr(log, want);
        if (w)
                snprintf(why, sizeof(why), "%.*s", (int) strcspn(w, "\n"), w);
        tap_ok(w != NULL, "%s: libvirt says why (%s: %s)", feature, out && strstr(out, want) ? "virsh" : "domain log", why);
        tap_has_str(why, "Operation not permitted", "%s: the kernel's EPERM", feature);
        free(out);
        out = NULL;
        virsh(h, &out, "list --name");
        tap_ok(out && strspn(out, " \n") == strlen(out), "%s: no domain is left running", feature);
        free(out);
        tap_ok(WAIT_FOR(pod_processes_of(h, EMULATOR) == 0), "%s: no QEMU is left in the pod", feature);
        tap_ok(!tap_exists(), "%s: no " TAP_DEV " in the pod's netns", feature);
        if (tap_failed_)
                dump_qemu_log(name);
}

/* (a) */
static void no_interception(harness *h) {
        pod_prepare();
        pid_t d = libvirtd_start(h, NULL);
        if (d <= 0)
                return;
        /* the control: none of the three features, the domain runs */
        domain_xml("plain", EMULATOR, "", "");
        pid_t q = domain_start(h, "plain", "a domain without the three features starts (TCG, SeaBIOS, no disk)");
        char *out = NULL;
        virsh(h, &out, "domstate plain");
        tap_has_str(out, "running", "and runs");
        free(out);
        tap_is_str(q > 0 ? harness_task_cgroup(q, q) : "(no pid file)", "/" POD_A, "its QEMU (pid %d) is in pod-a's cgroup",
                   (int) q);
        out = NULL;
        tap_is_int(virsh(h, &out, "destroy plain"), 0, "virsh destroy plain");
        free(out);
        tap_ok(WAIT_FOR(pod_processes_of(h, EMULATOR) == 0), "its QEMU is gone");

        domain_xml("vcpusched", EMULATOR, XML_VCPUSCHED, "");
        expect_start_fails(h, "vcpusched", "<vcpusched scheduler='fifo'>", "Cannot set scheduler parameters for pid");
        domain_xml("tap", EMULATOR, "", XML_TAP);
        expect_start_fails(h, "tap", "managed 2-queue TAP", "Unable to create tap device " TAP_DEV);
        domain_xml("locked", EMULATOR, XML_LOCKED, "");
        expect_start_fails(h, "locked", "<memoryBacking><locked/>", "cannot limit locked memory of process");
        libvirtd_stop(d);
        if (tap_failed_)
                harness_dump_file(LV_LOG, "libvirtd log");
}

/* ---- under interception ---- */

#define VM_NAME "vm-libvirt"
/* QEMU behind a wrapper that saves the limits it is exec'd with (the same
 * process: the kernel's /proc/self/limits just before QEMU runs) */
#define EMULATOR_REC LV_DIR "/qemu-limits"
#define LIMITS_REC LV_HOME "/locked.limits"

static const char *g_run; /* delegate-run */

/* delegate-run is the interception entrypoint: without it there is nothing to test. */
static void need_delegate_run(void) {
        g_run = getenv("DELEGATE_RUN");
        if (!g_run || !*g_run || access(g_run, X_OK) < 0)
                tap_skip_all("delegate-run, the seccomp user-notification entrypoint (tools/delegate-run/delegate-run.c), is not "
                             "built in this tree: nothing runs libvirtd under interception");
}

/* The rule's memlock max (bytes) for use_policy(): see the file's comment. */
static bool g_big;
static uint64_t memlock_max(void) {
        g_big = prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE) == 1;
        return g_big ? UINT64_C(4) << 30 : harness_hard / 2;
}

/* Restart the broker with the pod's rule answering @unlimited ("max", "deny"). */
static uint64_t use_policy(harness *h, const char *unlimited) {
        char text[2048], max[32], unl[64];
        uint64_t m = memlock_max();
        snprintf(max, sizeof(max), "%" PRIu64, m);
        snprintf(unl, sizeof(unl), ", \"unlimited\": \"%s\"", unlimited);
        snprintf(text, sizeof(text), POLICY_FMT, max, unl);
        harness_stop_broker(h);
        harness_write_policy("10-scenario.json", text);
        tap_is_int(harness_start_broker(h), 0, "the broker runs the pod's rule: memlock max %" PRIu64 " bytes, \"unlimited\": \"%s\"%s",
                   m, unlimited, g_big ? "" : " (H/2: nothing here can raise a hard limit above H, no CAP_SYS_RESOURCE)");
        return m;
}

static pid_t libvirtd_intercepted(harness *h) {
        const char *wrap[] = { g_run, "--socket", HARNESS_SOCKET, "--vm", VM_NAME, "--", NULL };
        return libvirtd_start(h, wrap);
}

/* Every intercepted scenario: the rule answering @unlimited, the pod, libvirtd under delegate-run (its pid, or -1). */
static pid_t intercepted_session(harness *h, const char *unlimited, uint64_t *ret_max) {
        need_delegate_run();
        uint64_t max = use_policy(h, unlimited);
        if (ret_max)
                *ret_max = max;
        pod_prepare();
        return libvirtd_intercepted(h);
}

/* The thread's Cpus_allowed_list from /proc */
static void cpus_allowed(pid_t pid, pid_t tid, char *buf, size_t size) {
        char path[96], text[4096];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int) pid, (int) tid);
        harness_read_file(path, text, sizeof(text));
        const char *p = strstr(text, "Cpus_allowed_list:");
        p = p ? p + strlen("Cpus_allowed_list:") + strspn(p + strlen("Cpus_allowed_list:"), " \t") : "";
        snprintf(buf, size, "%.*s", (int) strcspn(p, "\n"), p);
}

/* Does one line of the broker's log say "@decision @op " with via=seccomp and the pod's rule? */
static bool audited(const char *decision, const char *op) {
        char head[64], line[4096];
        bool found = false;
        snprintf(head, sizeof(head), "%s %s ", decision, op);
        FILE *f = fopen(HARNESS_BROKER_LOG, "re");
        while (f && !found && fgets(line, sizeof(line), f))
                found = strstr(line, head) && strstr(line, " via=seccomp ") && strstr(line, " rule=libvirt-pod:");
        if (f)
                fclose(f);
        return found;
}

/* (b): the realtime vCPU and the managed multi-queue TAP, from the kernel */
static void check_rt_tap(harness *h) {
        char *out = NULL, buf[256];
        domain_xml("rt-tap", EMULATOR, XML_VCPUSCHED, XML_TAP);
        pid_t q = domain_start(h, "rt-tap",
                               "under interception the domain with <vcpusched> FIFO 1 and the managed 2-queue TAP starts");
        pid_t t = q > 0 ? harness_vcpu_thread(q, 0) : -1;
        tap_ok(t > 0, "QEMU (pid %d) runs its vCPU 0 thread (tid %d)", (int) q, (int) t);
        harness_sched_attr a = harness_sched_getattr(t);
        tap_is_int(a.sched_policy, SCHED_FIFO, "kernel: the vCPU thread is SCHED_FIFO (sched_getattr)");
        tap_is_int(a.sched_priority, 1, "kernel: at priority 1");
        tap_ok(a.sched_flags & 1 /* SCHED_FLAG_RESET_ON_FORK */, "kernel: with reset-on-fork");
        cpus_allowed(q, t, buf, sizeof(buf));
        tap_is_str(buf, "1", "kernel: confined to the rule's dedicated CPU 1");
        tap_is_str(harness_task_cgroup(q, t), "/" POD_A, "and still in pod-a's cgroup (session mode moves nothing)");

        tap_ok(tap_exists(), "kernel: " TAP_DEV " exists in pod-a's netns");
        tap_ok(harness_sh(NULL, "ip link show " TAP_DEV " >/dev/null 2>&1") != 0, "and not in the broker's netns");
        out = NULL;
        harness_sh(&out, "ip -n " NETNS " -d link show " TAP_DEV);
        tap_has_str(out, ",UP", "kernel: it is up (SIOCSIFFLAGS)");
        tap_has_str(out, "tun type tap", "a TAP");
        tap_has_str(out, "multi_queue", "with IFF_MULTI_QUEUE");
        tap_has_str(out, "user qemu", "owned by uid 107 ('qemu' in this sandbox)");
        tap_has_str(out, "numqueues 1 numdisabled 1", "with 2 queues, the guest's second one not enabled (no guest OS)");
        tap_has_str(out, "link/ether fe:54:00:", "with the MAC libvirt derives from the guest's (SIOCSIFHWADDR)");
        if (tap_failed_)
                diag_lines("ip", out);
        free(out);
        tap_is_int(harness_tap_fds(q, TAP_DEV), 2, "kernel: QEMU holds both queues of " TAP_DEV " (fdinfo iff:)");
        tap_ok(audited("ALLOW", "sched.set"), "the broker's audit: sched.set allowed via=seccomp by rule libvirt-pod");
        tap_ok(audited("ALLOW", "tap.create"), "the broker's audit: tap.create allowed via=seccomp by rule libvirt-pod");

        out = NULL;
        tap_is_int(virsh(h, &out, "destroy rt-tap"), 0, "virsh destroy rt-tap");
        free(out);
        tap_ok(WAIT_FOR(pod_processes_of(h, EMULATOR) == 0), "its QEMU is gone");
        tap_ok(WAIT_FOR(!tap_exists()), TAP_DEV " went with QEMU's queues (libvirt's managed TAP is not persistent)");
}

/* The wrapper that records the limits QEMU is exec'd with (domain "locked" only), then execs QEMU. */
static void write_recorder(void) {
        write_file(EMULATOR_REC, "#!/bin/sh\n"
                                 "case \" $* \" in *\" guest=locked,\"*) cat /proc/$$/limits > " LIMITS_REC " ;; esac\n"
                                 "exec " EMULATOR " \"$@\"\n");
        tap_is_int(chmod(EMULATOR_REC, 0755), 0, "an emulator wrapper records QEMU's limits at exec");
}

/* (b): <locked/> under "unlimited": "max" */
static void check_locked_max(harness *h, uint64_t max) {
        char *out = NULL, rec[8192];
        write_recorder();
        domain_xml("locked", EMULATOR_REC, XML_LOCKED, "");
        int r = domain_create(h, "locked", &out);
        diag_lines("virsh", out);
        tap_ok(!out || !strstr(out, "cannot limit locked memory"),
               "<locked/>: libvirt's prlimit(RLIMIT_MEMLOCK, unlimited) is answered with success");
        harness_read_file(LIMITS_REC, rec, sizeof(rec));
        const char *l = strstr(rec, "Max locked memory");
        tap_ok(l != NULL, "QEMU was exec'd (its limits recorded)");
        uint64_t soft = 0, hard = 0;
        if (l)
                sscanf(l, "Max locked memory %" SCNu64 " %" SCNu64, &soft, &hard);
        tap_ok(soft == max && hard == max, "kernel: QEMU runs with RLIMIT_MEMLOCK %" PRIu64 "/%" PRIu64 ", the rule's maximum",
               soft, hard);
        tap_ok(audited("ALLOW", "memlock.set"), "the broker's audit: memlock.set allowed via=seccomp by rule libvirt-pod");
        if (g_big) {
                tap_is_int(r, 0, "<locked/>: the domain starts");
                pid_t q = qemu_pid("locked");
                tap_ok(q > 0 && read_memlock(q, &soft, &hard) == 0 && soft == max && hard == max,
                       "kernel: /proc/%d/limits shows the rule's maximum", (int) q);
                free(out);
                out = NULL;
                virsh(h, &out, "destroy locked");
        } else {
                /* QEMU 7.2 mlockall()s its whole address space; H/2 cannot hold it */
                tap_ok(r != 0 && out && strstr(out, "locking memory failed"),
                       "<locked/>: QEMU itself then stops: its mlockall() cannot fit in %" PRIu64 " bytes (this machine's "
                       "ceiling; with CAP_SYS_RESOURCE the rule says 4G and the domain runs)", max);
        }
        free(out);
        tap_ok(WAIT_FOR(pod_processes_of(h, EMULATOR) == 0), "no QEMU is left");
}

/* (b) and (c) */
static void intercepted(harness *h) {
        uint64_t max = 0;
        pid_t d = intercepted_session(h, "max", &max);
        if (d <= 0)
                return;
        check_rt_tap(h);
        check_locked_max(h, max);
        libvirtd_stop(d);
        tap_ok(!tap_exists(), "after the session ended no " TAP_DEV " is left in pod-a's netns");
        /* (c) a new session that ends with the domain running: libvirtd, and
         * with it delegate-run, exits; QEMU (session mode leaves domains
         * running) still holds the queues; the broker removes the TAP */
        d = libvirtd_intercepted(h);
        if (d <= 0)
                return;
        pid_t q = domain_start(h, "rt-tap", "a new session: rt-tap starts");
        tap_ok(q > 0 && tap_exists() && harness_tap_fds(q, TAP_DEV) == 2, "QEMU (pid %d) holds both queues of " TAP_DEV,
               (int) q);
        libvirtd_stop(d);
        tap_ok(harness_log_contains("removing TAP device(s) " TAP_DEV), "the session ended: the broker removes " TAP_DEV);
        tap_ok(WAIT_FOR(!tap_exists()), "kernel: no " TAP_DEV " is left in pod-a's netns");
        tap_ok(q > 0 && kill(q, 0) == 0, "while QEMU still runs: the broker removed it, not the last fd's close");
        if (q > 0)
                kill(q, SIGKILL);
        if (tap_failed_)
                harness_dump_file(LV_LOG, "libvirtd log");
}

/*
 * virsh destroy, then start the same domain again in the same session (a
 * restart): the TAP of the first run vanished with QEMU's queues.
 */
static void domain_restart(harness *h) {
        pid_t d = intercepted_session(h, "max", NULL);
        if (d <= 0)
                return;
        domain_xml("rt-tap", EMULATOR, XML_VCPUSCHED, XML_TAP);
        for (int run = 1; run <= 2; run++) {
                char what[64], *out = NULL;
                snprintf(what, sizeof(what), "run %d: rt-tap starts", run);
                pid_t q = domain_start(h, "rt-tap", what);
                tap_is_int(q > 0 ? harness_tap_fds(q, TAP_DEV) : -1, 2, "run %d: QEMU holds both queues of " TAP_DEV, run);
                harness_sh(&out, "ip -n " NETNS " -d link show " TAP_DEV);
                tap_ok(out && strstr(out, "tun type tap") && strstr(out, "multi_queue") && strstr(out, "user qemu") &&
                               strstr(out, "numqueues 1 numdisabled 1") && strstr(out, ",UP"),
                       "run %d: kernel: " TAP_DEV " in pod-a's netns, a multi-queue TAP owned by uid 107, 2 queues, up",
                       run);
                if (tap_failed_)
                        diag_lines("ip", out);
                free(out);
                out = NULL;
                virsh(h, &out, "destroy rt-tap");
                free(out);
                tap_ok(WAIT_FOR(pod_processes_of(h, EMULATOR) == 0 && !tap_exists()), "run %d: destroyed, " TAP_DEV " gone",
                       run);
        }
        libvirtd_stop(d);
}

static void locked_deny(harness *h) {
        pid_t d = intercepted_session(h, "deny", NULL);
        if (d <= 0)
                return;
        domain_xml("locked", EMULATOR, XML_LOCKED, "");
        expect_start_fails(h, "locked", "<locked/> under \"unlimited\": \"deny\"", "cannot limit locked memory of process");
        tap_ok(audited("DENY", "memlock.set"), "the broker's audit: memlock.set denied via=seccomp by rule libvirt-pod");
        libvirtd_stop(d);
        if (tap_failed_)
                harness_dump_file(LV_LOG, "libvirtd log");
}

static const scenario scenarios[] = {
        { "libvirt-no-interception", policy_plain, no_interception },
        { "libvirt-intercepted", policy_plain, intercepted },
        { "libvirt-locked-deny", policy_plain, locked_deny },
        { "libvirt-domain-restart", policy_plain, domain_restart },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
