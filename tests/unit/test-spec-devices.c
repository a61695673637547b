/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-spec-devices - the launcher's boot source, disks, keys and console:
 * spec keys with FILE:LINE:COLUMN errors, and the QEMU arguments they turn
 * into (a -blockdev chain per disk, secret objects on sealed memfds, the key
 * never on the command line).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "launcher.h"
#include "tap.h"
#include "unit-util.h"

static char dir[] = "/tmp/test-spec-devices-XXXXXX";

static int parse(const char *text, vm_spec *s, char *err, size_t size) {
        return vm_spec_parse("vm.json", text, strlen(text), s, err, size);
}

static void refused(const char *text, const char *want) {
        vm_spec s = { 0 };
        char err[512] = "";
        int r = parse(text, &s, err, sizeof(err));
        tap_ok(r < 0 && strstr(err, want), "refused: %s", want);
        if (!strstr(err, want))
                tap_diag("got: %s", err);
}

/* The argument after @flag whose text starts with @prefix, or NULL. */
static const char *arg_after(const qemu_proc *q, const char *flag, const char *prefix) {
        for (size_t i = 0; i + 1 < q->argc; i++)
                if (streq(q->argv[i], flag) && strncmp(q->argv[i + 1], prefix, strlen(prefix)) == 0)
                        return q->argv[i + 1];
        return NULL;
}

static void write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        tap_ok(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t) strlen(text) && close(fd) == 0, "write %s", path);
}

static void test_errors(void) {
        refused("{ \"name\": \"v\", \"memory\": \"64M\",\n  \"disks\": [ { \"format\": \"qcow2\" } ] }",
                "vm.json:2:14: a disk needs \"path\"");
        refused("{ \"name\": \"v\", \"memory\": \"64M\",\n  \"disks\": [ { \"path\": \"rel.img\" } ] }",
                "vm.json:2:24: disk \"path\" must be an absolute path in the pod");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"disks\": [ { \"path\": \"/a\", \"format\": \"vmdk\" } ] }",
                "disk \"format\" must be one of \"raw\", \"qcow2\"");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"disks\": [ { \"path\": \"/a\", \"bus\": \"ide\" } ] }",
                "disk \"bus\" must be one of \"virtio-blk\", \"virtio-scsi\"");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"disks\": [ { \"path\": \"/a\", \"cache\": \"fast\" } ] }",
                "disk \"cache\" must be one of \"writeback\", \"none\", \"writethrough\", \"directsync\", \"unsafe\"");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"disks\": [ { \"path\": \"/a\", \"encryption\": "
                "{ \"format\": \"luks\" } } ] }",
                "disk \"encryption\" needs \"format\": \"luks\" and \"key_file\"");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"disks\": [ { \"path\": \"/a\", \"encryption\": "
                "{ \"format\": \"aes\", \"key_file\": \"/k\" } } ] }",
                "disk encryption \"format\" must be \"luks\"");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"disks\": [ { \"path\": \"/a\", \"size\": 1 } ] }",
                "unknown disk key 'size' (allowed: id, path, format, bus, cache, readonly, boot, encryption)");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"disks\": [ { \"id\": \"a\", \"path\": \"/a\", \"boot\": true }, "
                "{ \"path\": \"/b\", \"boot\": true } ] }",
                "only one disk can have \"boot\": true (disk 'a' has it already)");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"disks\": [ { \"id\": \"d\", \"path\": \"/a\" }, "
                "{ \"id\": \"d\", \"path\": \"/b\" } ] }",
                "disk id 'd' is used twice");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"initrd\": \"/boot/initrd\" }",
                "\"initrd\" needs \"kernel\" (direct kernel boot)");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"console\": { \"file\": \"/a\", \"socket\": \"/b\" } }",
                "\"console\" must be an object with one of \"file\" or \"socket\"");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"console\": { \"pty\": true } }",
                "unknown console key 'pty' (allowed: file, socket)");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"nics\": [ { \"vhost\": \"yes\" } ] }",
                "nic \"vhost\" must be true, false or \"optional\"");
}

static void test_argv(void) {
        char spec[2048], img[128], data[128], key[128], err[512] = "";
        const char *secret = "Key-3c9e1d7f-never-on-a-command-line";
        snprintf(img, sizeof(img), "%s/root,1.qcow2", dir);
        snprintf(data, sizeof(data), "%s/data.img", dir);
        snprintf(key, sizeof(key), "%s/key", dir);
        write_file(img, "qcow2 stand-in: the launcher checks only that it can open it");
        write_file(data, "raw");
        write_file(key, secret);
        snprintf(spec, sizeof(spec),
                 "{ \"name\": \"vm-a\", \"memory\": \"64M\",\n"
                 "  \"kernel\": \"%s\", \"initrd\": \"%s\", \"cmdline\": \"console=ttyS0 quiet\",\n"
                 "  \"disks\": [ { \"id\": \"root\", \"path\": \"%s\", \"format\": \"qcow2\", \"cache\": \"none\", \"boot\": true,\n"
                 "                 \"encryption\": { \"format\": \"luks\", \"key_file\": \"%s\" } },\n"
                 "               { \"path\": \"%s\", \"bus\": \"virtio-scsi\", \"readonly\": true,\n"
                 "                 \"cache\": \"writethrough\" } ],\n"
                 "  \"console\": { \"file\": \"%s/console,log\" } }\n",
                 data, data, img, key, data, dir);
        vm_spec s = { 0 };
        int r = parse(spec, &s, err, sizeof(err));
        tap_is_int(r, 0, "a spec with kernel, initrd, cmdline, two disks and a console parses (%s)", err);
        if (r < 0)
                return;
        tap_is_int((int) s.n_disks, 2, "two disks");
        tap_is_str(s.disks[1].id, "disk1", "a disk without an id is named by its index");
        r = devices_prepare(&s, err, sizeof(err));
        tap_is_int(r, 0, "the files can be opened and the key becomes a memfd (%s)", err);
        int kfd = s.disks[0].key_fd;
        tap_ok(kfd >= 0, "disk 'root' has a key memfd");
        tap_ok(s.disks[1].key_fd < 0, "disk 'disk1' has none");
        tap_ok((fcntl(kfd, F_GET_SEALS) & (F_SEAL_WRITE | F_SEAL_SEAL | F_SEAL_GROW)) ==
                       (F_SEAL_WRITE | F_SEAL_SEAL | F_SEAL_GROW),
               "the memfd is sealed against writes, growth and new seals");
        char back[128] = "";
        ssize_t n = pread(kfd, back, sizeof(back) - 1, 0);
        tap_ok(n == (ssize_t) strlen(secret) && memcmp(back, secret, (size_t) n) == 0,
               "the memfd holds the key file's bytes, verbatim");
        explicit_bzero(back, sizeof(back));
        tap_ok(fcntl(kfd, F_GETFD) & FD_CLOEXEC, "the memfd is close-on-exec in the launcher");

        qemu_proc q = { .pid = -1, .gate = -EBADF };
        tap_is_int(devices_argv(&s, &q), 0, "QEMU's arguments are built");
        char want[512];
        tap_ok(arg_after(&q, "-kernel", data) != NULL, "-kernel names the kernel file");
        tap_ok(arg_after(&q, "-initrd", data) != NULL, "-initrd names the initrd");
        tap_ok(arg_after(&q, "-append", "console=ttyS0 quiet") != NULL, "-append carries the cmdline");
        snprintf(want, sizeof(want), "secret,id=root-key,format=raw,file=/dev/fd/%d", kfd);
        tap_ok(arg_after(&q, "-object", want) != NULL, "a secret object reads the key from /dev/fd/%d", kfd);
        snprintf(want, sizeof(want),
                 "{\"node-name\":\"root-file\",\"read-only\":false,\"cache\":{\"direct\":true,\"no-flush\":false},"
                 "\"driver\":\"file\",\"filename\":\"%s\"}",
                 img);
        tap_ok(arg_after(&q, "-blockdev", want) != NULL, "the file node: the path verbatim in JSON, cache none");
        tap_ok(arg_after(&q, "-blockdev",
                         "{\"node-name\":\"root-format\",\"read-only\":false,\"cache\":{\"direct\":true,\"no-flush\":false},"
                         "\"file\":\"root-file\",\"driver\":\"qcow2\",\"encrypt\":{\"format\":\"luks\",\"key-secret\":"
                         "\"root-key\"}}") != NULL,
               "the format node: qcow2 with LUKS encryption keyed by the secret");
        tap_ok(arg_after(&q, "-device", "virtio-blk-pci,drive=root-format,id=root,write-cache=on,bootindex=1") != NULL,
               "virtio-blk with the guest's write cache on (cache none)");
        tap_ok(arg_after(&q, "-blockdev", "{\"node-name\":\"disk1-format\",\"read-only\":true,") != NULL,
               "the second disk is read-only");
        tap_ok(arg_after(&q, "-device", "virtio-scsi-pci,id=scsi0") != NULL, "one virtio-scsi controller");
        tap_ok(arg_after(&q, "-device", "scsi-hd,bus=scsi0.0,drive=disk1-format,id=disk1,write-cache=off") != NULL,
               "the second disk on it, write-cache off (writethrough)");
        snprintf(want, sizeof(want), "file,id=console,path=%s/console,,log,append=on", dir);
        tap_ok(arg_after(&q, "-chardev", want) != NULL, "the console file, its comma doubled");
        tap_ok(arg_after(&q, "-serial", "chardev:console") != NULL, "on the first serial port");
        bool leaked = false;
        for (size_t i = 0; i < q.argc; i++)
                leaked |= strstr(q.argv[i], secret) != NULL;
        tap_ok(!leaked, "the key is in no argument");
        qemu_proc_done(&q);
        devices_close_keys(&s);
        tap_ok(s.disks[0].key_fd < 0, "devices_close_keys() closes the memfd");
        vm_spec_done(&s);
}

static void test_prepare_errors(void) {
        char spec[512], err[512] = "";
        vm_spec s = { 0 };
        snprintf(spec, sizeof(spec), "{ \"name\": \"v\", \"memory\": \"64M\", \"disks\": [ { \"id\": \"gone\", "
                                     "\"path\": \"%s/missing.img\" } ] }", dir);
        tap_is_int(parse(spec, &s, err, sizeof(err)), 0, "a spec naming a missing image parses");
        tap_ok(devices_prepare(&s, err, sizeof(err)) == -ENOENT && strstr(err, "disk 'gone': image '") &&
                       strstr(err, "missing.img' cannot be opened for reading and writing"),
               "devices_prepare: the missing image is named (%s)", err);
        vm_spec_done(&s);

        char empty[128];
        snprintf(empty, sizeof(empty), "%s/empty-key", dir);
        write_file(empty, "");
        snprintf(spec, sizeof(spec), "{ \"name\": \"v\", \"memory\": \"64M\", \"disks\": [ { \"path\": \"%s/data.img\", "
                                     "\"encryption\": { \"format\": \"luks\", \"key_file\": \"%s\" } } ] }", dir, empty);
        tap_is_int(parse(spec, &s, err, sizeof(err)), 0, "a spec naming an empty key file parses");
        tap_ok(devices_prepare(&s, err, sizeof(err)) == -EINVAL && strstr(err, "must be a regular file of 1 to 65536 bytes"),
               "devices_prepare: an empty key file is refused (%s)", err);
        vm_spec_done(&s);
}

int main(void) {
        if (!mkdtemp(dir))
                return 1;
        test_errors();
        test_argv();
        test_prepare_errors();
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                tap_diag("could not remove %s", dir);
        return tap_done();
}
