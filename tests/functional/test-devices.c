/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-devices - what a VM boots from and stores on, through
 * delegate-launcher as the pod's uid: encrypted disks (qcow2 with LUKS and
 * raw LUKS, made by Debian's qemu-img) whose key reaches QEMU as a secret
 * object through a sealed memfd, a read-only disk, direct kernel boot
 * with an initrd and a command line, and the serial console to a file and
 * to a unix socket.
 *
 * The guests are real guest code run by QEMU (TCG: the pod's uid cannot
 * open /dev/kvm here): a boot sector that SeaBIOS loads from the disk
 * QEMU decrypted and that writes a line to the first serial port, and a
 * multiboot kernel that writes its command line and its module (the
 * initrd) there.  Their bytes are below, assembled by hand, each
 * instruction commented.  What the guest writes is read from the console:
 * the proof that QEMU decrypted the disk and booted what the spec named.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define VMDIR "/run/delegate-test/vm"
#define LOG VMDIR "/launcher.log"
#define CONSOLE VMDIR "/console.log"
#define KEY_FILE VMDIR "/disk.key"
#define MARKER "DELEGATE-GUEST"

static const char policy_pod[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [ { \"name\": \"launchers\", \"match\": { \"uid\": 1000, \"vm\": \"vm-*\" },\n"
        "                 \"memlock\": { \"max\": \"1G\" } } ] }\n";

/*
 * A boot sector (16-bit real mode, loaded at 0:7C00) that writes the
 * NUL-terminated line at 7C1E to COM1 (port 3F8), waits a little and
 * writes it again, for ever: a console socket that connects late still
 * sees it.
 */
static const unsigned char boot_code[] = {
        0x31, 0xc0,                         /* 7C00 xor ax,ax                 */
        0x8e, 0xd8,                         /* 7C02 mov ds,ax                 */
        0xfc,                               /* 7C04 cld                       */
        0xbe, 0x1e, 0x7c,                   /* 7C05 mov si,7C1E  (the line)   */
        0xba, 0xf8, 0x03,                   /* 7C08 mov dx,3F8   (COM1)       */
        0xac,                               /* 7C0B lodsb                     */
        0x84, 0xc0,                         /* 7C0C test al,al                */
        0x74, 0x03,                         /* 7C0E jz 7C13                   */
        0xee,                               /* 7C10 out dx,al                 */
        0xeb, 0xf8,                         /* 7C11 jmp 7C0B                  */
        0x66, 0xb9, 0x00, 0x00, 0x00, 0x01, /* 7C13 mov ecx,1000000h          */
        0x67, 0xe2, 0xfd,                   /* 7C19 loop 7C19    (a pause)    */
        0xeb, 0xe7,                         /* 7C1C jmp 7C05                  */
};

/*
 * A multiboot kernel (a flat image with the a.out kludge: loaded at
 * 100000h, entered at 100020h in 32-bit protected mode with EBX pointing
 * at the multiboot information) that writes its command line and then its
 * first module (the initrd, NUL-terminated) to COM1, and halts.
 */
static const unsigned char multiboot_kernel[] = {
        0x02, 0xb0, 0xad, 0x1b,             /* magic 1BADB002                     */
        0x00, 0x00, 0x01, 0x00,             /* flags: bit 16, the address fields  */
        0xfe, 0x4f, 0x51, 0xe4,             /* checksum: -(magic + flags)         */
        0x00, 0x00, 0x10, 0x00,             /* header_addr   100000h              */
        0x00, 0x00, 0x10, 0x00,             /* load_addr     100000h              */
        0x00, 0x00, 0x00, 0x00,             /* load_end_addr 0: the whole file    */
        0x00, 0x00, 0x00, 0x00,             /* bss_end_addr  0: none              */
        0x20, 0x00, 0x10, 0x00,             /* entry_addr    100020h              */
        0xbc, 0x00, 0x00, 0x09, 0x00,       /* 100020 mov esp,90000h              */
        0xfc,                               /* 100025 cld                         */
        0xba, 0xf8, 0x03, 0x00, 0x00,       /* 100026 mov edx,3F8h                */
        0x8b, 0x73, 0x10,                   /* 10002B mov esi,[ebx+16] (cmdline)  */
        0xe8, 0x14, 0x00, 0x00, 0x00,       /* 10002E call puts                   */
        0x8b, 0x4b, 0x14,                   /* 100033 mov ecx,[ebx+20] (mods_count) */
        0x85, 0xc9,                         /* 100036 test ecx,ecx                */
        0x74, 0x0a,                         /* 100038 jz halt                     */
        0x8b, 0x7b, 0x18,                   /* 10003A mov edi,[ebx+24] (mods_addr) */
        0x8b, 0x37,                         /* 10003D mov esi,[edi]   (mod_start) */
        0xe8, 0x03, 0x00, 0x00, 0x00,       /* 10003F call puts                   */
        0xf4,                               /* 100044 halt: hlt                   */
        0xeb, 0xfd,                         /* 100045 jmp halt                    */
        0xac,                               /* 100047 puts: lodsb                 */
        0x84, 0xc0,                         /* 100048 test al,al                  */
        0x74, 0x03,                         /* 10004A jz ret                      */
        0xee,                               /* 10004C out dx,al                   */
        0xeb, 0xf8,                         /* 10004D jmp puts                    */
        0xc3,                               /* 10004F ret                         */
};

static void write_bytes(const char *path, const void *data, size_t n, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        bool ok = fd >= 0 && write(fd, data, n) == (ssize_t) n;
        ok = fd >= 0 && close(fd) == 0 && ok;
        ok = ok && chown(path, 1000, 1000) == 0;
        if (!ok)
                tap_ok(0, "write %s: %m", path);
}

static void write_text(const char *path, const char *text) {
        write_bytes(path, text, strlen(text), 0644);
}

/* A 1 MiB plaintext disk whose first sector boots and writes @line. */
static void write_boot_disk(const char *path, const char *line) {
        static unsigned char disk[1 << 20];
        memset(disk, 0, sizeof(disk));
        memcpy(disk, boot_code, sizeof(boot_code));
        snprintf((char *) disk + sizeof(boot_code), 512 - 2 - sizeof(boot_code), "%s\r\n", line);
        disk[510] = 0x55;
        disk[511] = 0xaa;
        write_bytes(path, disk, sizeof(disk), 0600);
}

/* The whole file at @path (NULL when it cannot be read); its size in *n. */
static char *slurp(const char *path, size_t *n) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                if (fd >= 0)
                        close(fd);
                return NULL;
        }
        size_t cap = st.st_size > 0 ? (size_t) st.st_size + 1 : 65536, len = 0;
        char *buf = malloc(cap + 1);
        for (ssize_t k; buf && (k = read(fd, buf + len, cap - len)) > 0;)
                len += (size_t) k;
        close(fd);
        if (buf)
                buf[len] = 0;
        *n = len;
        return buf;
}

static bool file_has(const char *path, const char *needle) {
        size_t n = 0;
        char *t = slurp(path, &n);
        bool found = t && memmem(t, n, needle, strlen(needle)) != NULL;
        free(t);
        return found;
}

/* A random key: printable, never in any file of the test but the key file. */
static void make_key(char *key, size_t size, const char *prefix) {
        unsigned char r[12];
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, r, sizeof(r)) != (ssize_t) sizeof(r))
                tap_ok(0, "read /dev/urandom");
        if (fd >= 0)
                close(fd);
        int n = snprintf(key, size, "%s", prefix);
        for (size_t i = 0; i < sizeof(r) && (size_t) n + 2 < size; i++)
                n += snprintf(key + n, size - n, "%02x", r[i]);
}

/* qemu-img (Debian's qemu-utils) encrypts @plain into @out: "qcow2" (LUKS inside) or "luks" (raw LUKS). */
static int encrypt_disk(const char *plain, const char *out, const char *format) {
        const char *opts = strcmp(format, "qcow2") == 0 ? "encrypt.format=luks,encrypt.key-secret=k,encrypt.iter-time=10"
                                                  : "key-secret=k,iter-time=10";
        /* qemu-img times PBKDF2 by the thread's CPU time, which a tick-accounting kernel (this
         * machine's: CONFIG_TICK_CPU_ACCOUNTING, HZ 250) measures in 4 ms steps: about 1 run in 5
         * fails with "Unable to get accurate CPU usage" when its first round counts 0 ms; try again */
        return harness_sh(NULL,
                          "for i in 1 2 3 4 5 6 7 8; do qemu-img convert --object secret,id=k,file=%s -O %s -o %s %s %s >&2 "
                          "&& break; done && chown 1000:1000 %s",
                          KEY_FILE, format, opts, plain, out, out);
}

static void vm_dir(void) {
        mkdir(VMDIR, 0755);
        if (chown(VMDIR, 1000, 1000) < 0)
                tap_ok(0, "chown " VMDIR);
}

static pid_t spawn_launcher(harness *h, const char *spec) {
        const char *exe = getenv("DELEGATE_LAUNCHER");
        char *argv[] = { (char *) exe, "--spec", (char *) spec, NULL };
        unlink(LOG);
        return harness_spawn_in_pod(h, POD_A, NULL, 1000, 1000, LOG, argv);
}

static void dump_file(const char *path) {
        size_t n = 0;
        char *t = slurp(path, &n);
        tap_diag("---- %s ----", path);
        for (char *save = NULL, *l = t ? strtok_r(t, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
                tap_diag("%s", l);
        free(t);
}

static pid_t qemu_pid(void) {
        size_t n = 0;
        char *t = slurp(LOG, &n);
        const char *k = t ? strstr(t, "QEMU pid ") : NULL;
        pid_t p = k ? (pid_t) atoi(k + 9) : -1;
        free(t);
        return p;
}

/* SIGTERM: the launcher powers the guest down (it ignores ACPI: SIGKILL after the timeout) and exits. */
static void stop_launcher(pid_t l) {
        kill(l, SIGTERM);
        int st = harness_wait_exit(l, 30000);
        tap_ok(st >= 0 && WIFEXITED(st), "the launcher exits after SIGTERM");
        if (st < 0) {
                kill(l, SIGKILL);
                waitpid(l, NULL, 0);
        }
}

/* /proc/@pid/@what (cmdline, environ) does not hold @key. */
static void proc_lacks(pid_t pid, const char *what, const char *key) {
        char path[64];
        size_t n = 0;
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, what);
        char *t = slurp(path, &n);
        tap_ok(t && n > 0 && !memmem(t, n, key, strlen(key)), "QEMU's %s (%zu bytes) does not hold the key", what, n);
        free(t);
}

/* The target of QEMU's fd that points at @name (a path or a memfd name), and its open flags. */
static bool qemu_fd(pid_t pid, const char *name, int *ret_flags) {
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pid);
        for (int fd = 0; fd < 1024; fd++) {
                char link[96], target[512], info[128], buf[512];
                snprintf(link, sizeof(link), "%s/%d", dir, fd);
                ssize_t k = readlink(link, target, sizeof(target) - 1);
                if (k < 0)
                        continue;
                target[k] = 0;
                if (!strstr(target, name))
                        continue;
                snprintf(info, sizeof(info), "/proc/%d/fdinfo/%d", (int) pid, fd);
                harness_read_file(info, buf, sizeof(buf));
                const char *f = strstr(buf, "flags:");
                *ret_flags = f ? (int) strtol(f + 6, NULL, 8) : -1;
                return true;
        }
        return false;
}

/* A random key in KEY_FILE (starting with @prefix) and a boot disk writing @line, encrypted by qemu-img into @out. */
static void encrypted_boot_disk(char *key, size_t size, const char *prefix, const char *line, const char *out,
                                const char *format) {
        vm_dir();
        make_key(key, size, prefix);
        write_bytes(KEY_FILE, key, strlen(key), 0400);
        write_boot_disk(VMDIR "/plain.img", line);
        tap_is_int(encrypt_disk(VMDIR "/plain.img", out, format), 0,
                   "qemu-img makes %s from the plaintext boot disk", strcmp(format, "qcow2") == 0
                           ? "a qcow2 image with LUKS encryption" : "a raw LUKS volume");
        unlink(VMDIR "/plain.img");
        tap_ok(!file_has(out, MARKER), "the guest's line is not in %s: it is encrypted", out);
}

/*
 * launcher-disk-qcow2-luks: the boot disk is qcow2 with LUKS encryption,
 * its passphrase in a key file; a second, plaintext disk is read-only on
 * virtio-scsi; the console goes to a file.
 */
static void disk_qcow2_luks(harness *h) {
        char key[64], spec[2048];
        encrypted_boot_disk(key, sizeof(key),
                            getenv("DELEGATE_ERASE_MARKER") ? getenv("DELEGATE_ERASE_MARKER") : "k-",
                            MARKER " booted from qcow2+luks", VMDIR "/root.qcow2", "qcow2");
        write_boot_disk(VMDIR "/data.img", "the data disk");
        /* the data disk must not boot: SeaBIOS skips it (no 55AA) */
        harness_sh(NULL, "printf '\\0\\0' | dd of=%s bs=1 seek=510 conv=notrunc status=none", VMDIR "/data.img");
        snprintf(spec, sizeof(spec),
                 "{ \"name\": \"vm-disks\", \"memory\": \"32M\", \"mem_lock\": false,\n"
                 "  \"disks\": [\n"
                 "    { \"id\": \"root\", \"path\": \"%s\", \"format\": \"qcow2\", \"bus\": \"virtio-blk\",\n"
                 "      \"boot\": true,\n"
                 "      \"encryption\": { \"format\": \"luks\", \"key_file\": \"%s\" } },\n"
                 "    { \"id\": \"data\", \"path\": \"%s\", \"bus\": \"virtio-scsi\", \"readonly\": true,\n"
                 "      \"cache\": \"writethrough\" } ],\n"
                 "  \"console\": { \"file\": \"%s\" },\n"
                 "  \"shutdown_timeout\": 1 }\n",
                 VMDIR "/root.qcow2", KEY_FILE, VMDIR "/data.img", CONSOLE);
        write_text(VMDIR "/vm.json", spec);
        if (getenv("DELEGATE_ERASE_REPORT")) {
                /* the launcher runs as uid 1000: it must be able to append its findings */
                int fd = open(getenv("DELEGATE_ERASE_REPORT"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
                tap_ok(fd >= 0 && fchmod(fd, 0666) == 0 && close(fd) == 0, "the erase report is writable by the pod");
        }
        pid_t l = spawn_launcher(h, VMDIR "/vm.json");
        bool booted = harness_file_contains(CONSOLE, MARKER " booted from qcow2+luks", 60000);
        tap_ok(booted, "console: the guest booted from the decrypted disk and wrote its line");
        pid_t q = qemu_pid();
        tap_ok(q > 0, "QEMU's pid is in the launcher's log (%d)", (int) q);
        if (booted && q > 0) {
                int flags = -1;
                proc_lacks(q, "cmdline", key);
                proc_lacks(q, "environ", key);
                tap_ok(qemu_fd(q, "memfd:delegate-disk-key", &flags), "QEMU holds the sealed key memfd");
                tap_ok(qemu_fd(q, "/data.img", &flags) && (flags & O_ACCMODE) == O_RDONLY,
                       "QEMU opened the read-only disk O_RDONLY (flags 0%o)", flags);
                tap_ok(qemu_fd(q, "/root.qcow2", &flags) && (flags & O_ACCMODE) == O_RDWR,
                       "and the boot disk read-write (flags 0%o)", flags);
                tap_ok(!qemu_fd(l, "memfd:delegate-disk-key", &flags), "the launcher closed its copy of the memfd");
        }
        stop_launcher(l);
        tap_ok(!file_has(LOG, key), "the launcher's log does not hold the key");
        const char *report = getenv("DELEGATE_ERASE_REPORT");
        if (report && booted) {
                /* launcher-disk-key-erased: tests/lib/erase-check.c is preloaded, the key starts with its marker */
                size_t n = 0;
                free(slurp(KEY_FILE, &n)); /* not erased: the control */
                char *t = harness_erase_report(report);
                tap_ok(harness_erase_findings(t, "test-devices-erase") > 0,
                       "control: the hook reports this test's own unerased free of the key");
                tap_is_int(harness_erase_findings(t, "delegate-launcher"), 0,
                           "no block the launcher freed holds the key");
                free(t);
        }
        if (tap_failed_)
                dump_file(LOG);
}

/* launcher-disk-raw-luks: a raw LUKS volume on virtio-scsi, the console on a unix socket. */
static void disk_raw_luks(harness *h) {
        char key[64], spec[2048];
        encrypted_boot_disk(key, sizeof(key), "k-", MARKER " booted from raw luks", VMDIR "/root.luks", "luks");
        snprintf(spec, sizeof(spec),
                 "{ \"name\": \"vm-disks\", \"memory\": \"32M\", \"mem_lock\": false,\n"
                 "  \"disks\": [ { \"path\": \"%s\", \"format\": \"raw\", \"bus\": \"virtio-scsi\",\n"
                 "                 \"encryption\": { \"format\": \"luks\", \"key_file\": \"%s\" } } ],\n"
                 "  \"console\": { \"socket\": \"%s\" },\n"
                 "  \"shutdown_timeout\": 1 }\n",
                 VMDIR "/root.luks", KEY_FILE, VMDIR "/console.sock");
        write_text(VMDIR "/vm.json", spec);
        pid_t l = spawn_launcher(h, VMDIR "/vm.json");
        int fd = -1;
        for (int i = 0; i < 600 && fd < 0; i++) {
                struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = VMDIR "/console.sock" };
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
                        close(fd);
                        fd = -1;
                        usleep(50000);
                }
        }
        tap_ok(fd >= 0, "the console socket accepts a reader");
        char buf[4096];
        size_t len = 0;
        bool seen = false;
        struct timeval tv = { 60, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        while (fd >= 0 && !seen && len < sizeof(buf) - 1) {
                ssize_t k = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (k <= 0)
                        break;
                len += (size_t) k;
                buf[len] = 0;
                seen = strstr(buf, MARKER " booted from raw luks") != NULL;
        }
        tap_ok(seen, "console socket: the guest booted from the decrypted LUKS volume");
        if (fd >= 0)
                close(fd);
        pid_t q = qemu_pid();
        if (q > 0) {
                proc_lacks(q, "cmdline", key);
                proc_lacks(q, "environ", key);
        }
        stop_launcher(l);
        if (tap_failed_)
                dump_file(LOG);
}

/* launcher-disk-wrong-key: QEMU cannot unlock the volume; the VM does not start and says why. */
static void disk_wrong_key(harness *h) {
        char key[64], spec[2048];
        encrypted_boot_disk(key, sizeof(key), "k-", MARKER " must not boot", VMDIR "/root.qcow2", "qcow2");
        make_key(key, sizeof(key), "wrong-");
        write_bytes(VMDIR "/wrong.key", key, strlen(key), 0400);
        snprintf(spec, sizeof(spec),
                 "{ \"name\": \"vm-disks\", \"memory\": \"32M\", \"mem_lock\": false,\n"
                 "  \"disks\": [ { \"path\": \"%s\", \"format\": \"qcow2\",\n"
                 "                 \"encryption\": { \"format\": \"luks\", \"key_file\": \"%s\" } } ],\n"
                 "  \"console\": { \"file\": \"%s\" } }\n",
                 VMDIR "/root.qcow2", VMDIR "/wrong.key", CONSOLE);
        write_text(VMDIR "/vm.json", spec);
        pid_t l = spawn_launcher(h, VMDIR "/vm.json");
        int st = harness_wait_exit(l, 60000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0, "the launcher fails (status %d)",
               st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        tap_ok(file_has(LOG, "Invalid password, cannot unlock any keyslot"),
               "QEMU's own reason reaches the launcher's log");
        tap_ok(!file_has(CONSOLE, MARKER), "the guest never ran");
        tap_ok(!file_has(LOG, key), "the log does not hold the key");
        if (st < 0) {
                kill(l, SIGKILL);
                waitpid(l, NULL, 0);
        }
        if (tap_failed_)
                dump_file(LOG);
}

/* launcher-kernel-boot: direct kernel boot with an initrd and a command line, no firmware disk. */
static void kernel_boot(harness *h) {
        char spec[2048];
        static const char initrd[] = MARKER " initrd content\r\n";
        vm_dir();
        write_bytes(VMDIR "/kernel", multiboot_kernel, sizeof(multiboot_kernel), 0644);
        write_bytes(VMDIR "/initrd", initrd, sizeof(initrd), 0644); /* with its NUL */
        snprintf(spec, sizeof(spec),
                 "{ \"name\": \"vm-kernel\", \"memory\": \"32M\", \"mem_lock\": false,\n"
                 "  \"kernel\": \"%s\", \"initrd\": \"%s\",\n"
                 "  \"cmdline\": \"" MARKER " cmdline console=ttyS0\",\n"
                 "  \"console\": { \"file\": \"%s\" },\n"
                 "  \"shutdown_timeout\": 1 }\n",
                 VMDIR "/kernel", VMDIR "/initrd", CONSOLE);
        write_text(VMDIR "/vm.json", spec);
        pid_t l = spawn_launcher(h, VMDIR "/vm.json");
        tap_ok(harness_file_contains(CONSOLE, MARKER " cmdline console=ttyS0", 60000),
               "console: the kernel QEMU loaded got the spec's command line");
        tap_ok(harness_file_contains(CONSOLE, MARKER " initrd content", 10000),
               "console: and the initrd as its module");
        stop_launcher(l);
        if (tap_failed_) {
                dump_file(LOG);
                dump_file(CONSOLE);
        }

        /* a kernel the pod's uid cannot read: the launcher says so before QEMU runs */
        chmod(VMDIR "/kernel", 0600);
        if (chown(VMDIR "/kernel", 0, 0) < 0)
                tap_ok(0, "chown the kernel to root");
        l = spawn_launcher(h, VMDIR "/vm.json");
        int st = harness_wait_exit(l, 20000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "an unreadable kernel: the launcher exits 1");
        tap_ok(file_has(LOG, "kernel '" VMDIR "/kernel' cannot be opened for reading by uid 1000: Permission denied"),
               "naming the file, the uid and the reason");
        tap_ok(!file_has(LOG, "QEMU pid"), "before QEMU was started");
        if (st < 0) {
                kill(l, SIGKILL);
                waitpid(l, NULL, 0);
        }
}

static const char policy_vhost[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [ { \"name\": \"launchers\", \"match\": { \"uid\": 1000, \"vm\": \"vm-*\" },\n"
        "                 \"memlock\": { \"max\": \"1G\" },\n"
        "                 \"tap\": { \"bridges\": \"br0\", \"max_queues\": 4, \"vhost\": true } } ] }\n";

/* QEMU's command line as one string, NULs as spaces. */
static char *qemu_cmdline(pid_t q) {
        char path[64];
        size_t n = 0;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) q);
        char *t = slurp(path, &n);
        for (size_t i = 0; t && i < n; i++)
                if (!t[i])
                        t[i] = ' ';
        return t;
}

static void vhost_spec(const char *vhost) {
        char spec[1024];
        snprintf(spec, sizeof(spec),
                 "{ \"name\": \"vm-net\", \"memory\": \"32M\", \"mem_lock\": false,\n"
                 "  \"nics\": [ { \"id\": \"net0\", \"bridge\": \"br0\", \"queues\": 2, \"vhost\": %s } ],\n"
                 "  \"shutdown_timeout\": 1 }\n",
                 vhost);
        write_text(VMDIR "/vm.json", spec);
}

/*
 * launcher-vhost: a NIC asks for vhost-net fds from the broker.  Where the
 * node has no /dev/vhost-net (this test machine's kernel has no vhost_net),
 * "optional" falls back to QEMU's own virtio-net and says so, and true
 * refuses to start the VM with the broker's reason; where it has one, both
 * give QEMU vhost=on with the broker's fds.
 */
static void launcher_vhost(harness *h) {
        bool have = access("/dev/vhost-net", F_OK) == 0;
        if (!have)
                tap_diag("this node has no /dev/vhost-net: the fallback and the refusal are checked, vhost=on cannot be");
        vm_dir();
        tap_is_int(harness_netns_add("pod-a"), 0, "pod-a gets its own network namespace");
        tap_is_int(harness_sh(NULL, "ip -n pod-a link add br0 type bridge && ip -n pod-a link set br0 up"), 0,
                   "with a bridge br0");
        vhost_spec("\"optional\"");
        const char *exe = getenv("DELEGATE_LAUNCHER");
        char *argv[] = { (char *) exe, "--spec", VMDIR "/vm.json", NULL };
        unlink(LOG);
        pid_t l = harness_spawn_in_pod(h, POD_A, "pod-a", 1000, 1000, LOG, argv);
        bool running = harness_file_contains(LOG, "guest running", 60000);
        tap_ok(running, "vhost \"optional\": the VM runs");
        char *cmd = running ? qemu_cmdline(qemu_pid()) : NULL;
        if (have)
                tap_ok(cmd && strstr(cmd, ",vhost=on,vhostfds="), "QEMU gets vhost=on with the broker's vhost-net fds");
        else {
                tap_ok(file_has(LOG, "nic net0: no vhost-net (tap.create: vhost: /dev/vhost-net is not available"),
                       "the launcher says it falls back, and why");
                tap_ok(cmd && strstr(cmd, ",vhost=off") && !strstr(cmd, "vhostfds"), "QEMU runs its own virtio-net");
        }
        free(cmd);
        stop_launcher(l);

        vhost_spec("true");
        unlink(LOG);
        l = harness_spawn_in_pod(h, POD_A, "pod-a", 1000, 1000, LOG, argv);
        if (have) {
                tap_ok(harness_file_contains(LOG, "guest running", 60000), "vhost true: the VM runs");
                stop_launcher(l);
        } else {
                int st = harness_wait_exit(l, 30000);
                tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "vhost true without vhost-net: the launcher exits 1");
                tap_ok(file_has(LOG, "/dev/vhost-net is not available on this node"), "with the broker's reason");
                tap_ok(!file_has(LOG, "QEMU pid"), "before QEMU was started");
                if (st < 0) {
                        kill(l, SIGKILL);
                        waitpid(l, NULL, 0);
                }
        }
        if (tap_failed_)
                dump_file(LOG);
}

static const scenario scenarios[] = {
        { "launcher-vhost", policy_vhost, launcher_vhost },
        { "launcher-disk-qcow2-luks", policy_pod, disk_qcow2_luks },
        { "launcher-disk-raw-luks", policy_pod, disk_raw_luks },
        { "launcher-disk-wrong-key", policy_pod, disk_wrong_key },
        { "launcher-kernel-boot", policy_pod, kernel_boot },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
