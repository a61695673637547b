/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-spec.c - the launcher's VM spec parser (launcher/launcher-spec.c) at
 * its edges: defaults, the bounds of every number, the memlock sum, and
 * FILE:LINE:COLUMN errors.  Disks, keys and the console: test-spec-devices.
 */
#include <inttypes.h>
#include <stdio.h>

#include "launcher.h"
#include "tap.h"
#include "unit-util.h"

static int parse(const char *text, vm_spec *s, char *err, size_t size) {
        *s = (vm_spec) {};
        return vm_spec_parse("vm.json", text, strlen(text), s, err, size);
}

static void accepted(const char *text, const char *what) {
        vm_spec s;
        char err[512] = "";
        tap_is_int(parse(text, &s, err, sizeof(err)), 0, "accepted: %s", what);
        if (err[0])
                tap_diag("%s", err);
        vm_spec_done(&s);
}

static void refused(const char *text, const char *want) {
        vm_spec s;
        char err[512] = "";
        int r = parse(text, &s, err, sizeof(err));
        tap_ok(r == -EINVAL && strstr(err, want), "refused: %s", want);
        if (!strstr(err, want))
                tap_diag("got %d: %s", r, err);
}

static void test_defaults(void) {
        vm_spec s;
        char err[512];
        tap_is_int(parse("{ \"name\": \"v\", \"memory\": \"64M\" }", &s, err, sizeof(err)), 0, "minimal spec");
        tap_is_str(s.qemu, "qemu-system-x86_64", "  qemu defaults to qemu-system-x86_64");
        tap_is_str(s.accel, "auto", "  accel defaults to auto");
        tap_ok(s.vcpus == 1 && s.shutdown_timeout_s == 30, "  1 vCPU, shutdown_timeout 30");
        tap_ok(s.memory == 64ULL << 20, "  64M is 67108864 bytes");
        tap_ok(s.memlock_auto && !s.mem_lock && vm_spec_memlock(&s) == 0, "  memlock auto, no mem_lock: no request");
        vm_spec_done(&s);

        tap_is_int(parse("{ \"name\": \"v\", \"memory\": \"1G\", \"vcpus\": 2, \"realtime\": { \"vcpus\": \"1\" } }", &s,
                         err, sizeof(err)),
                   0, "realtime spec");
        tap_ok(s.mem_lock, "  realtime turns mem_lock on");
        tap_ok(vm_spec_memlock(&s) == (1ULL << 30) + (256ULL << 20) + 2 * (16ULL << 20),
               "  memlock auto: 1G + 256M + 2 x 16M (got %" PRIu64 ")", vm_spec_memlock(&s));
        tap_ok(s.rt_priority == 1 && s.rt_rttime_us == 200000 && !s.rt_dedicated, "  priority 1, rttime 200000 us");
        vm_spec_done(&s);

        tap_is_int(parse("{ \"name\": \"v\", \"memory\": \"64M\", \"kvmi\": { \"enabled\": true } }", &s, err,
                         sizeof(err)),
                   0, "kvmi spec");
        tap_ok(s.kvmi && s.kvmi_keyed && s.kvmi_reconnect_s == 1, "  keyed, reconnect 1 s by default");
        vm_spec_done(&s);
}

static void test_bounds(void) {
        accepted("{ \"name\": \"v\", \"memory\": \"16M\" }", "memory 16M");
        refused("{ \"name\": \"v\", \"memory\": \"15M\" }", "vm.json:1:26: \"memory\" must be a size from 16M to 4096T");
        refused("{ \"name\": \"v\", \"memory\": 16777217 }", "\"memory\" must be a size from 16M");
        accepted("{ \"name\": \"v\", \"memory\": \"4096T\" }", "memory 4096T (2^52 bytes)");
        refused("{ \"name\": \"v\", \"memory\": 4503599628419072 }", "\"memory\" must be a size from 16M to 4096T");
        /* 2^64 - 1 MiB: in whole MiB, but guest RAM + overhead would wrap around to a few hundred MiB */
        refused("{ \"name\": \"v\", \"memory\": 18446744073708503040, \"mem_lock\": true }",
                "\"memory\" must be a size from 16M to 4096T");
        accepted("{ \"name\": \"v\", \"memory\": \"64M\", \"vcpus\": 256 }", "vcpus 256");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"vcpus\": 257 }", "\"vcpus\" must be an integer from 1 to 256");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"vcpus\": 0 }", "\"vcpus\" must be an integer from 1 to 256");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"shutdown_timeout\": 3601 }",
                "\"shutdown_timeout\" must be an integer from 1 to 3600");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"kvmi\": { \"enabled\": true, \"reconnect\": 61 } }",
                "kvmi \"reconnect\" (seconds) must be an integer from 1 to 60");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"realtime\": { \"vcpus\": \"0\", \"priority\": 100 } }",
                "realtime \"priority\" must be an integer from 1 to 99");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"realtime\": { \"vcpus\": \"0\", \"rttime_us\": 999 } }",
                "realtime \"rttime_us\" must be an integer from 1000 to 60000000");

        char name[300], text[400];
        memset(name, 'a', 253);
        name[253] = 0;
        snprintf(text, sizeof(text), "{ \"name\": \"%s\", \"memory\": \"64M\" }", name);
        accepted(text, "a 253-character name");
        name[253] = 'a';
        name[254] = 0;
        snprintf(text, sizeof(text), "{ \"name\": \"%s\", \"memory\": \"64M\" }", name);
        refused(text, "\"name\" must be 1-253 characters of [A-Za-z0-9._-]");
        refused("{ \"name\": \"v/../w\", \"memory\": \"64M\" }", "\"name\" must be 1-253 characters");
}

static void test_rules(void) {
        refused("{ \"memory\": \"64M\" }", "vm.json:1:1: the spec needs \"name\"");
        refused("{ \"name\": \"v\" }", "the spec needs \"memory\"");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"name\": \"w\" }", "duplicate key 'name'");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"cpu\": 1 }", "unknown spec key 'cpu' (allowed: name, qemu");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"vcpus\": 2, \"realtime\": { \"vcpus\": \"2\" } }",
                "realtime vCPU 2 does not exist (\"vcpus\" is 2)");
        refused("{ \"name\": \"v\", \"memory\": \"1G\", \"mem_lock\": true, \"memlock\": \"512M\" }",
                "vm.json:1:61: \"memlock\" (512 MiB) is smaller than guest RAM (\"memory\": 1 GiB)");
        accepted("{ \"name\": \"v\", \"memory\": \"1G\", \"mem_lock\": false, \"memlock\": \"512M\" }",
                 "a small memlock without mem_lock");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"cmdline\": \"quiet\" }",
                "\"cmdline\" needs \"kernel\" (direct kernel boot)");
        refused("{ \"name\": \"v\", \"memory\": \"64M\", \"accel\": \"hvf\" }",
                "\"accel\" must be \"auto\", \"kvm\" or \"tcg\"");
        refused("{ \"name\": \"v\", \"memory\": \"64M\",\n  \"nics\": [ { \"id\": \"a\" }, { \"id\": \"a\" } ] }",
                "vm.json:2:28: nic id 'a' is used twice");
        refused("// a comment\n{ \"name\": \"v\", \"memory\": \"64M\", \"extra_args\": [ \"\" ] }",
                "vm.json:2:49: each of \"extra_args\" must be a non-empty string");
        refused("[]", "vm.json:1:1: the spec must be a JSON object");
        refused("{ \"name\": \"v\", ", "vm.json:1:");
}

int main(void) {
        test_defaults();
        test_bounds();
        test_rules();
        return tap_done();
}
