/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-spec.c - the launcher's VM spec (launcher/launcher-spec.c, JSON
 * with comments, written by whoever owns the pod): parse and validate it;
 * when it is refused, the error names the file; when it is accepted, its
 * limits hold, the memlock computation runs, and QEMU's command line is
 * built from it (launcher-cmdline.c, launcher-qemu.c, launcher-devices.c) with one made-up fd
 * number per queue, as the broker's TAP fds would be.
 *
 * Seeds: tests/fuzz/corpus/spec (the example of deploy/kubernetes/vm-pod.yaml,
 * every key of delegate-launcher(1)'s SPEC section, the tests' specs).
 * -max_len: 1048576, vm_spec_load()'s limit (a spec above 1 MiB is refused
 * before parsing).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "launcher.h"
#include "policy.h"

#define SPEC_FILE_MAX (1024 * 1024)

static void build_argv(const vm_spec *s) {
        int fds[SPEC_MAX_NICS][2 * NIC_MAX_QUEUES], *per_nic[SPEC_MAX_NICS];
        size_t n_fds[SPEC_MAX_NICS];
        for (size_t i = 0; i < s->n_nics; i++) {
                n_fds[i] = s->nics[i].queues;
                FUZZ_ASSERT(n_fds[i] >= 1 && n_fds[i] <= NIC_MAX_QUEUES);
                for (size_t k = 0; k < 2 * NIC_MAX_QUEUES; k++)
                        fds[i][k] = 100 + (int) (i * 2 * NIC_MAX_QUEUES + k);
                per_nic[i] = fds[i];
        }
        qemu_proc q = { .gate = -EBADF, .err_fd = -EBADF };
        if (qemu_build_argv(s, s->accel, 3, per_nic, n_fds, NULL, &q) == 0) {
                FUZZ_ASSERT(q.argc > 0 && q.argv[q.argc] == NULL);
                for (size_t i = 0; i < q.argc; i++)
                        FUZZ_ASSERT(q.argv[i]);
        }
        qemu_proc_done(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > SPEC_FILE_MAX)
                return 0; /* vm_spec_load() refuses it unread */
        /* as vm_spec_load() hands it over: NUL-terminated */
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        vm_spec s = {};
        char err[512] = "";
        int r = vm_spec_parse("spec.json", text, size, &s, err, sizeof(err));
        free(text);
        if (r < 0) {
                FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM || r == -E2BIG);
                FUZZ_ASSERT(strncmp(err, "spec.json:", 10) == 0);
                return 0;
        }
        FUZZ_ASSERT(s.name && vm_name_valid(s.name) && s.qemu && s.accel);
        FUZZ_ASSERT(s.vcpus >= 1 && s.vcpus <= SPEC_MAX_VCPUS);
        FUZZ_ASSERT(s.memory >= (16ULL << 20) && s.memory % (1ULL << 20) == 0);
        FUZZ_ASSERT(s.n_nics <= SPEC_MAX_NICS && s.n_disks <= SPEC_MAX_DISKS && s.n_extra_args <= SPEC_MAX_EXTRA_ARGS);
        uint64_t ml = vm_spec_memlock(&s);
        if (s.mem_lock)
                FUZZ_ASSERT(ml >= s.memory); /* QEMU could not lock its RAM */
        build_argv(&s);
        vm_spec_done(&s);
        return 0;
}
