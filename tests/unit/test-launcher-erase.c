/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The launcher's requests to QEMU are erased before they are freed
 * (launcher-devices.c, launcher-qemu.c compiled in; this program is linked
 * with --wrap=free, wrap-free.h): a disk and a console whose paths carry a
 * marker, the -blockdev JSON texts and the console's path devices_argv()
 * builds and the argument vector qemu_proc_done() frees; no block freed
 * from the first to the last holds the marker.  The spec's own copies (freed by vm_spec_done()) are not
 * requests and are not scanned.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "launcher.h"
#include "tap.h"
#include "unit-util.h"
#include "wrap-free.h"

#define MARKER "Xerase-launcher-2b7d"

int main(void) {
        char dir[256], img[320], spec[1024], err[512] = "";
        unit_tmpdir(dir, sizeof(dir), "test-launcher-erase");
        snprintf(img, sizeof(img), "%s/" MARKER ".img", dir);
        int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || close(fd) < 0)
                unit_bail("%s: %m", img);
        snprintf(spec, sizeof(spec),
                 "{ \"name\": \"vm-e\", \"memory\": \"64M\",\n"
                 "  \"disks\": [ { \"id\": \"root\", \"path\": \"%s\", \"boot\": true } ],\n"
                 "  \"console\": { \"file\": \"%s/" MARKER ".log\" } }\n",
                 img, dir);
        vm_spec s = { 0 };
        if (vm_spec_parse("vm.json", spec, strlen(spec), &s, err, sizeof(err)) < 0 ||
            devices_prepare(&s, err, sizeof(err)) < 0)
                unit_bail("spec: %s", err);
        qemu_proc q = { .pid = -1, .gate = -EBADF };
        n_freed = n_marked = 0;
        free_marker = MARKER;
        int r = devices_argv(&s, &q);
        size_t with = 0;
        for (size_t i = 0; i < q.argc; i++)
                with += strstr(q.argv[i], MARKER) != NULL;
        unsigned built = n_freed, built_marked = n_marked;
        qemu_proc_done(&q);
        free_marker = NULL;
        tap_ok(r == 0 && with >= 2, "QEMU's arguments are built, %zu of them with the disk's and the console's paths", with);
        tap_ok(built >= 3 && built_marked == 0,
               "devices_argv(): %u blocks freed (the -blockdev texts, the console's path), %u with the marker",
               built, built_marked);
        tap_ok(n_freed > built && n_marked == built_marked, "qemu_proc_done(): %u blocks freed (the arguments), %u with the marker",
               n_freed - built, n_marked - built_marked);
        devices_close_keys(&s);
        vm_spec_done(&s);
        unlink(img);
        rmdir(dir);
        return tap_done();
}
