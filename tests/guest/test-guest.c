/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-guest - a real Linux guest (Debian's kernel, busybox-static, an
 * initramfs built by tests/guest/build-guest.sh and cached outside the
 * repository) booted through delegate-launcher in the pod sandbox of
 * tests/lib/harness.c, and what was delegated put to use:
 *   guest-net       the delegated 2-queue TAP: both queues enabled in the
 *                   guest, the bridge reached both ways, a checksummed bulk
 *                   transfer in each direction (the host's end hashes with
 *                   Python's hashlib, the guest's with busybox sha256sum);
 *                   and a LUKS-encrypted qcow2 data disk the guest reads
 *                   back as its plaintext (sha256 equal);
 *   guest-realtime  vCPU 1 SCHED_FIFO on dedicated host CPU 1 (safety
 *                   "dedicated"), the guest keeps it busy for 30 s: QEMU
 *                   lives, and a normal-priority host task on CPU 1 still
 *                   gets CPU time;
 *   guest-rttime    the same busy guest under safety "rttime" (a finite
 *                   RLIMIT_RTTIME, rtkit's rule): the kernel kills QEMU,
 *                   which is why VMs need "dedicated";
 *   guest-early-exit  QEMU exits before the guest runs (a "kernel" of
 *                   zeros): the launcher names its exit status.
 * The guest reports on its serial console ("DT: ..." lines, a file); the
 * host reads the kernel (QEMU's threads, limits, TAP fds, sysfs).
 * KVM when this host's KVM can run the guest kernel, TCG otherwise (said
 * in the output).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define VMDIR "/run/delegate-test/vm"
#define LOG VMDIR "/launcher.log"
#define CONSOLE VMDIR "/console.log"
#define BULK_MIB 16
#define BULK_MIB_S "16"
#define BUSY_S 30
/*
 * RLIMIT_RTTIME of guest-rttime.  A KVM vCPU in a busy guest never sleeps,
 * so the 200 ms kill it; a TCG vCPU thread now and then waits on
 * QEMU's big lock, which restarts the kernel's count, so under TCG 200 ms
 * may or may not be reached.  The launcher's smallest, 1 ms (two ticks
 * without sleeping), is reached at once by a busy TCG vCPU too.
 */
#define RTTIME_US_S "1000"

static char g_vmlinuz[512], g_initrd[512], g_busybox[512], g_kernel[128], g_accel[256];

static const char policy_guest[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"guests\",\n"
        "      \"match\": { \"uid\": 1000, \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" },\n"
        "      \"cgroup\": { \"targets\": \"housekeeping\", \"create\": true },\n"
        "      \"sched\": { \"policies\": [\"fifo\"], \"max_priority\": 10, \"safety\": \"dedicated\", \"cpus\": \"1\" },\n"
        "      \"tap\": { \"template\": \"vnet%d\", \"max_queues\": 4, \"bridges\": \"br0\" } }\n"
        "  ]\n"
        "}\n";

/* the same, with rtkit's rule */
static const char policy_rttime[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"guests-rttime\",\n"
        "      \"match\": { \"uid\": 1000, \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\" },\n"
        "      \"cgroup\": { \"targets\": \"housekeeping\", \"create\": true },\n"
        "      \"sched\": { \"policies\": [\"fifo\"], \"max_priority\": 10, \"max_rttime_us\": 200000 },\n"
        "      \"tap\": { \"template\": \"vnet%d\", \"max_queues\": 4, \"bridges\": \"br0\" } }\n"
        "  ]\n"
        "}\n";

/* Build (or find in the cache) the guest, before entering the namespaces: apt needs the network. */
static int build_guest(void) {
        const char *script = getenv("DELEGATE_GUEST_BUILD");
        char line[1024];
        if (!script) {
                fprintf(stderr, "DELEGATE_GUEST_BUILD is not set (meson sets it)\n");
                return -EINVAL;
        }
        FILE *f = popen(script, "re");
        while (f && fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                if (sscanf(line, "vmlinuz=%511s initrd=%511s busybox=%511s", g_vmlinuz, g_initrd, g_busybox) == 3)
                        continue;
                /* a value too long for its buffer is left empty: the check below then says what is missing */
                if (strncmp(line, "kernel=", 7) == 0 && strlen(line + 7) < sizeof(g_kernel))
                        memcpy(g_kernel, line + 7, strlen(line + 7) + 1);
                else if (strncmp(line, "accel=", 6) == 0 && strlen(line + 6) < sizeof(g_accel))
                        memcpy(g_accel, line + 6, strlen(line + 6) + 1);
        }
        int st = f ? pclose(f) : -1;
        if (st != 0 || !g_vmlinuz[0] || !g_accel[0]) {
                fprintf(stderr, "%s failed (status %d)\n", script, st);
                return -EIO;
        }
        return 0;
}

static void write_file(const char *path, const char *text) {
        if (harness_write_file(path, text) < 0)
                tap_ok(0, "write %s", path);
}



/* The rest of the console line that starts with "DT: @prefix", waiting up to @timeout_ms.  Only a whole
 * line counts: the guest writes its console through a slow (TCG) serial port, so the file's last line may
 * still be growing ("1048576 byt" was read once for "1048576 bytes <sha256>"). */
static bool console_line(const char *prefix, char *out, size_t size, int timeout_ms) {
        char want[256];
        snprintf(want, sizeof(want), "DT: %s", prefix);
        for (int t = 0;; t += 100) {
                FILE *f = fopen(CONSOLE, "re");
                char line[1024];
                bool found = false;
                while (f && !found && fgets(line, sizeof(line), f)) {
                        char *p = strstr(line, want);
                        if (p && strchr(p, '\n')) {
                                p[strcspn(p, "\r\n")] = 0;
                                snprintf(out, size, "%s", p + strlen(want));
                                found = true;
                        }
                }
                if (f)
                        fclose(f);
                if (found)
                        return true;
                if (t >= timeout_ms)
                        return false;
                usleep(100000);
        }
}

typedef struct guest_opts {
        bool realtime;
        bool rttime; /* realtime under safety "rttime" (200 ms) instead of "dedicated" on CPU 1 */
        unsigned mib, busy_s;
        const char *initrd; /* NULL: the built one */
        const char *kernel; /* NULL: the built one */
        bool disk;          /* a LUKS-encrypted qcow2 data disk, DISK_IMG with key DISK_KEY */
} guest_opts;

#define DISK_PLAIN VMDIR "/data.raw"
#define DISK_IMG VMDIR "/data.qcow2"
#define DISK_KEY VMDIR "/data.key"

/* pod-a's netns with br0 at 10.0.0.1/24, and a spec for vm-a booting the guest from the cache */
static void prepare(const guest_opts *o) {
        char spec[4096], rt[256] = "";
        tap_diag("guest: %s from Debian's packages; accel %s", g_kernel, g_accel);
        tap_is_int(harness_netns_add("pod-a"), 0, "pod-a gets its own network namespace");
        tap_is_int(harness_sh(NULL, "ip -n pod-a link add br0 type bridge && ip -n pod-a addr add 10.0.0.1/24 dev br0 "
                                    "&& ip -n pod-a link set br0 up"),
                   0, "with a bridge br0 at 10.0.0.1/24");
        mkdir(VMDIR, 0755);
        if (chown(VMDIR, 1000, 1000) < 0)
                tap_ok(0, "chown " VMDIR);
        if (o->realtime)
                snprintf(rt, sizeof(rt), "  \"realtime\": { \"vcpus\": \"1\", \"priority\": 1, %s },\n"
                                         "  \"housekeeping\": \"housekeeping\",\n",
                         o->rttime ? "\"safety\": \"rttime\", \"rttime_us\": " RTTIME_US_S
                                   : "\"safety\": \"dedicated\", \"cpus\": \"1\"");
        char disk[512] = "";
        if (o->disk)
                snprintf(disk, sizeof(disk),
                         "  \"disks\": [ { \"id\": \"data\", \"path\": \"" DISK_IMG "\", \"format\": \"qcow2\",\n"
                         "               \"encryption\": { \"format\": \"luks\", \"key_file\": \"" DISK_KEY "\" } } ],\n");
        /* direct kernel boot, disks and the console by the spec's own keys (delegate-launcher(1)) */
        snprintf(spec, sizeof(spec),
                 "{ \"name\": \"vm-a\", \"accel\": \"%s\", \"memory\": \"256M\", \"vcpus\": 2,\n"
                 "%s"
                 "  \"mem_lock\": false,\n"
                 "  \"nics\": [ { \"id\": \"net0\", \"bridge\": \"br0\", \"queues\": 2, \"mac\": \"52:54:00:12:34:56\" } ],\n"
                 "  \"kernel\": \"%s\", \"initrd\": \"%s\",\n"
                 "  \"cmdline\": \"console=ttyS0 quiet panic=-1 dt.ip=10.0.0.2/24 dt.host=10.0.0.1 dt.mib=%u dt.busy=%u\",\n"
                 "%s"
                 "  \"console\": { \"file\": \"" CONSOLE "\" },\n"
                 "  \"shutdown_timeout\": 5,\n"
                 "  \"extra_args\": [ \"-no-reboot\" ] }\n",
                 strncmp(g_accel, "kvm", 3) == 0 ? "auto" : "tcg", rt, o->kernel ? o->kernel : g_vmlinuz,
                 o->initrd ? o->initrd : g_initrd, o->mib, o->busy_s, disk);
        write_file(VMDIR "/vm.json", spec);
}

static pid_t start_launcher(harness *h) {
        const char *exe = getenv("DELEGATE_LAUNCHER");
        char *argv[] = { (char *) exe, "--spec", VMDIR "/vm.json", NULL };
        return harness_spawn_in_pod(h, POD_A, "pod-a", 1000, 1000, LOG, argv);
}

static void stop_launcher(pid_t l) {
        int st = harness_wait_exit(l, 60000); /* the guest powers off by itself */
        if (st == -ETIMEDOUT) {
                kill(l, SIGTERM);
                st = harness_wait_exit(l, 30000);
        }
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the guest powered off and the launcher exits 0 (0x%x)",
               st);
}


/* Start bulk-peer.py in pod-a's netns (background); its JSON line goes to @out. */
static void bulk_peer(const char *args, const char *out) {
        tap_is_int(harness_sh(NULL, "ip netns exec pod-a python3 %s %s > %s 2>&1 &", getenv("DELEGATE_BULK_PEER"), args,
                              out),
                   0, "the host's bulk peer listens: %s", args);
}

static bool read_json_line(const char *path, char *buf, size_t size, int timeout_ms) {
        for (int t = 0; t <= timeout_ms; t += 100) {
                harness_read_line(path, buf, size);
                if (buf[0] == '{')
                        return true;
                usleep(100000);
        }
        return false;
}

/*
 * The data disk: 1 MiB of random bytes, encrypted by Debian's qemu-img into
 * a qcow2 image with LUKS under a random passphrase in a key file; the
 * plaintext's sha256 into @sha (the guest must read the same through QEMU).
 */
static void make_disk(char *sha, size_t size) {
        char *out = NULL;
        /* qemu-img times PBKDF2 by the thread's CPU time, which a tick-accounting kernel
         * measures coarsely: a round may count 0 ms ("Unable to get accurate CPU usage") */
        int r = harness_sh(&out,
                           "head -c 1048576 /dev/urandom > " DISK_PLAIN " && head -c 24 /dev/urandom | base64 | "
                           "tr -d '\\n' > " DISK_KEY " && for i in 1 2 3 4 5 6 7 8; do qemu-img convert --object "
                           "secret,id=k,file=" DISK_KEY " -O qcow2 -o encrypt.format=luks,encrypt.key-secret=k,"
                           "encrypt.iter-time=10 " DISK_PLAIN " " DISK_IMG " >&2 && break; done && "
                           "chown 1000:1000 " DISK_IMG " " DISK_KEY " && chmod 0400 " DISK_KEY " && "
                           "sha256sum < " DISK_PLAIN " | cut -d' ' -f1 && rm " DISK_PLAIN);
        snprintf(sha, size, "%.64s", out ? out : "");
        free(out);
        tap_ok(r == 0 && strlen(sha) == 64, "an encrypted qcow2 data disk (qemu-img, LUKS), plaintext sha256 %s", sha);
}

static void guest_net(harness *h) {
        char line[512], host[512], disk_sha[80];
        guest_opts o = { .mib = BULK_MIB, .disk = true };
        prepare(&o);
        make_disk(disk_sha, sizeof(disk_sha));
        bulk_peer("send 10.0.0.1 5001 " BULK_MIB_S, VMDIR "/send.json");
        bulk_peer("recv 10.0.0.1 5002", VMDIR "/recv.json");
        pid_t l = start_launcher(h);
        tap_ok(l > 0, "delegate-launcher started as uid 1000 in pod-a");
        bool up = console_line("init at", line, sizeof(line), 120000);
        tap_ok(up, "the guest kernel runs its /init:%s", line);
        if (!up)
                goto fail;
        pid_t q = harness_qemu_pid_in(LOG);
        tap_ok(console_line("disk vda ", line, sizeof(line), 60000), "the guest has the disk as vda");
        char want_disk[128];
        snprintf(want_disk, sizeof(want_disk), "1048576 bytes %s", disk_sha);
        tap_is_str(line, want_disk, "guest: it reads the plaintext back (QEMU decrypted it with the key from the memfd)");
        tap_ok(console_line("queues ", line, sizeof(line), 60000), "the guest has eth0");
        tap_is_str(line, "rx-0 rx-1 tx-0 tx-1 ", "guest: both queue pairs are enabled (/sys/class/net/eth0/queues)");
        tap_ok(console_line("network up", line, sizeof(line), 60000), "guest: ping reaches the bridge and back:%s", line);
        tap_has_str(line, "3 packets received from 10.0.0.1", "guest: 3 of 3 replies");
        tap_is_int(harness_tap_fds(q, "vnet0"), 2, "host: both of QEMU's queue fds are attached to vnet0");
        char *out = NULL;
        harness_sh(&out, "ip netns exec pod-a ls /sys/class/net/vnet0/queues | tr '\\n' ' '");
        tap_is_str(out ? out : "", "rx-0 rx-1 tx-0 tx-1 ", "host: vnet0 runs 2 queue pairs");
        free(out);
        out = NULL;
        tap_is_int(harness_sh(&out, "ip netns exec pod-a %s ping -c 2 -W 5 10.0.0.2", g_busybox), 0,
                   "host: the guest answers ping from the pod's bridge");
        free(out);

        /* host -> guest: the guest's sha256sum of what arrived equals the host's hash of what it sent */
        tap_ok(console_line("rx ", line, sizeof(line), 180000), "guest: received the host's bulk transfer: %s", line);
        tap_ok(read_json_line(VMDIR "/send.json", host, sizeof(host), 10000), "host: sent %s", host);
        char want[256];
        snprintf(want, sizeof(want), "%d bytes %s ", BULK_MIB << 20, jstr(host, "sha256"));
        tap_has_str(line, want, "host to guest: %d MiB intact (sha256 equal on both ends)", BULK_MIB);
        /* guest -> host */
        tap_ok(console_line("tx-sum ", line, sizeof(line), 60000), "guest: its data: %s", line);
        tap_ok(console_line("tx done", host, sizeof(host), 180000), "guest: sent it");
        tap_ok(read_json_line(VMDIR "/recv.json", host, sizeof(host), 10000), "host: received %s", host);
        snprintf(want, sizeof(want), "%d bytes %s", BULK_MIB << 20, jstr(host, "sha256"));
        tap_is_str(line, want, "guest to host: %d MiB intact (sha256 equal on both ends)", BULK_MIB);
        tap_ok(console_line("done", line, sizeof(line), 60000), "the guest finished its sequence");
        stop_launcher(l);
        if (tap_failed_) {
                harness_dump_file(LOG, NULL);
                harness_dump_file(CONSOLE, NULL);
        }
        return;
fail:
        kill(l, SIGKILL);
        waitpid(l, NULL, 0);
        harness_dump_file(LOG, NULL);
        harness_dump_file(CONSOLE, NULL);
}

/* utime + stime of thread @tid of @pid in clock ticks (-1: gone) */
static long long task_cpu_ticks(pid_t pid, pid_t tid) {
        char path[96], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int) pid, (int) tid);
        harness_read_file(path, buf, sizeof(buf));
        const char *p = strrchr(buf, ')');
        unsigned long long ut, st;
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return -1;
        return (long long) (ut + st);
}

static double mono_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void guest_realtime(harness *h) {
        char line[512], buf[8192], path[96];
        if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
                tap_skip_all("a dedicated CPU 1 needs 2 online CPUs");
        guest_opts o = { .realtime = true, .busy_s = BUSY_S };
        prepare(&o);
        pid_t l = start_launcher(h);
        tap_ok(l > 0, "delegate-launcher started as uid 1000 in pod-a");
        bool up = console_line("network up", line, sizeof(line), 120000);
        tap_ok(up, "the guest runs, its network is up:%s", line);
        if (!up) {
                kill(l, SIGKILL);
                waitpid(l, NULL, 0);
                harness_dump_file(LOG, NULL);
                harness_dump_file(CONSOLE, NULL);
                return;
        }
        pid_t q = harness_qemu_pid_in(LOG);
        pid_t v1 = harness_vcpu_thread(q, 1);
        tap_ok(v1 > 0, "QEMU's vCPU 1 thread: %d", (int) v1);
        harness_sched_attr a = harness_sched_getattr(v1);
        tap_ok(a.sched_policy == SCHED_FIFO && a.sched_priority == 1 && (a.sched_flags & 1),
               "kernel: vCPU 1 is SCHED_FIFO 1 with reset-on-fork");
        cpu_set_t set;
        CPU_ZERO(&set);
        tap_ok(sched_getaffinity(v1, sizeof(set), &set) == 0 && CPU_ISSET(1, &set) && CPU_COUNT(&set) == 1,
               "kernel: vCPU 1 runs on host CPU 1 only");
        snprintf(path, sizeof(path), "/proc/%d/limits", (int) q);
        harness_read_file(path, buf, sizeof(buf));
        tap_has_str(buf, "Max realtime timeout      unlimited            unlimited            us",
                    "kernel: QEMU runs without RLIMIT_RTTIME (safety dedicated)");

        /* a normal-priority task on CPU 1 for the busy period: does it still get CPU time? */
        tap_ok(console_line("busy start", line, sizeof(line), 60000), "guest: vCPU 1 busy from now:%s", line);
        pid_t hog = fork();
        if (hog == 0) {
                cpu_set_t one;
                CPU_ZERO(&one);
                CPU_SET(1, &one);
                if (sched_setaffinity(0, sizeof(one), &one) < 0)
                        _exit(1);
                for (volatile unsigned long i = 0;; i++)
                        ;
        }
        double t0 = mono_s();
        long long v0 = task_cpu_ticks(q, v1), h0 = task_cpu_ticks(hog, hog);
        usleep((BUSY_S - 5) * 1000000); /* inside the guest's busy period */
        double t1 = mono_s();
        long long v1t = task_cpu_ticks(q, v1), h1 = task_cpu_ticks(hog, hog);
        bool qemu_alive = kill(q, 0) == 0;
        kill(hog, SIGKILL);
        waitpid(hog, NULL, 0);
        long hz = sysconf(_SC_CLK_TCK);
        double span = t1 - t0, vshare = (v1t - v0) / (double) hz / span, hshare = (h1 - h0) / (double) hz / span;
        tap_diag("over %.1f s of the guest's busy loop: vCPU 1 (SCHED_FIFO) had %.0f%% of a CPU, the normal task on "
                 "CPU 1 %.1f%%",
                 span, 100 * vshare, 100 * hshare);
        tap_ok(qemu_alive, "QEMU is alive after %.0f s of a busy realtime vCPU", span);
        tap_ok(vshare > 0.5, "host: the busy vCPU 1 ran most of the time (%.0f%%)", 100 * vshare);
        tap_ok(h1 - h0 > 0, "host: a normal-priority task on CPU 1 was still scheduled (%.1f%% of the CPU, %lld ticks)",
               100 * hshare, h1 - h0);
        tap_ok(console_line("busy end", line, sizeof(line), 60000), "guest: the busy loop ended:%s", line);
        tap_ok(console_line("done", line, sizeof(line), 30000), "the guest finished its sequence after the busy loop");
        tap_ok(console_line("after busy: ping ok", line, sizeof(line), 30000), "guest: the network still works");
        tap_ok(harness_file_contains(LOG, "safety \"dedicated\"", 0), "the launcher reports the model it used");
        stop_launcher(l);
        if (tap_failed_) {
                harness_dump_file(LOG, NULL);
                harness_dump_file(CONSOLE, NULL);
        }
}

/* rtkit's rule on a vCPU: the first busy stretch longer than RLIMIT_RTTIME gets QEMU killed */
static void guest_rttime(harness *h) {
        guest_opts o = { .realtime = true, .rttime = true, .busy_s = BUSY_S };
        prepare(&o);
        pid_t l = start_launcher(h);
        tap_ok(l > 0, "delegate-launcher started as uid 1000 in pod-a");
        int st = harness_wait_exit(l, 180000);
        if (st == -ETIMEDOUT) {
                kill(l, SIGKILL);
                waitpid(l, NULL, 0);
        }
        char line[512];
        bool busy = console_line("busy start", line, sizeof(line), 0);
        tap_diag("the guest %s its busy loop before QEMU ended", busy ? "had started" : "had not reached");
        tap_ok(!console_line("busy end", line, sizeof(line), 0), "the guest never finished its %d s busy loop", BUSY_S);
        /* RLIMIT_RTTIME soft = hard: the kernel sends SIGKILL (SIGXCPU when only the soft limit is passed) */
        tap_ok(st >= 0 && WIFEXITED(st) && (WEXITSTATUS(st) == 128 + SIGKILL || WEXITSTATUS(st) == 128 + SIGXCPU),
               "the launcher exits with QEMU's status: killed by the kernel's RLIMIT_RTTIME (0x%x)", st);
        tap_ok(harness_file_contains(LOG, "QEMU exited (status 137)", 0) ||
                       harness_file_contains(LOG, "QEMU exited (status 152)", 0),
               "the launcher says QEMU was killed (status 137 or 152)");
        if (tap_failed_) {
                harness_dump_file(LOG, NULL);
                harness_dump_file(CONSOLE, NULL);
        }
}

static void guest_early_exit(harness *h) {
        /* a file the launcher can read but QEMU cannot boot: 4 KiB of zeros, no Linux
         * header and no multiboot one; with an initrd QEMU refuses it and exits 1 */
        guest_opts o = { .kernel = VMDIR "/not-a-kernel" };
        prepare(&o);
        tap_is_int(harness_sh(NULL, "head -c 4096 /dev/zero > %s && chown 1000:1000 %s", o.kernel, o.kernel), 0,
                   "a 'kernel' of 4 KiB of zeros");
        pid_t l = start_launcher(h);
        int st = harness_wait_exit(l, 60000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "the launcher exits 1 (0x%x)", st);
        tap_ok(harness_file_contains(LOG, "QEMU exited with status 1 before the guest was resumed", 0),
               "its error names QEMU's exit status");
        tap_ok(harness_file_contains(LOG, "its last words on stderr: qemu: linux kernel too old to load a ram disk", 0),
               "and QEMU's last words");
        tap_ok(!harness_file_contains(LOG, "closed QMP", 0), "not a closed QMP socket");
        if (tap_failed_)
                harness_dump_file(LOG, NULL);
}

static const scenario scenarios[] = {
        { "guest-net", policy_guest, guest_net },
        { "guest-realtime", policy_guest, guest_realtime },
        { "guest-rttime", policy_rttime, guest_rttime },
        { "guest-early-exit", policy_guest, guest_early_exit },
};

int main(int argc, char **argv) {
        if (argc == 2 && build_guest() < 0) {
                printf("Bail out! the guest could not be built (tests/guest/build-guest.sh)\n");
                return 1;
        }
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
