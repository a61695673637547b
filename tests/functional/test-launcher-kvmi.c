/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-launcher-kvmi - delegate-launcher with "kvmi": {"enabled": true}, end
 * to end: the launcher (uid 1000 in a pod) listens, gives QEMU the
 * introspection options of KVM-VMI's QEMU (kvmi-v12), and hands every
 * connection QEMU makes to the broker.  The spec's QEMU binary is
 * kvmi-peer run as QEMU: it takes the introspection options the way vmi.c
 * does (a socket chardev with reconnect=N, the secret from -object secret),
 * plays the introspection client and the kernel, and execs Debian's real
 * QEMU (TCG) for the rest.  Debian's QEMU has no introspection object and
 * no kernel here has KVMI; the test says so.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define POD "kubepods.slice/pod-b"
#define VMDIR "/run/delegate-test/vmk"
#define LOG VMDIR "/launcher.log"
#define STATUS VMDIR "/peer.status"

static const char policy[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"kvmi-launchers\",\n"
        "      \"match\": { \"uid\": 1000, \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" },\n"
        "      \"kvmi\": { \"gpa\": [\"0-0xffffffff\"], \"access\": \"rwx\", \"max_entries\": 1024,\n"
        "                \"require_key\": true } }\n"
        "  ]\n"
        "}\n";

/* The simulated introspection client's pid (the peer writes "pid N" first). */
static pid_t peer_pid(void) {
        char buf[4096];
        harness_read_file(STATUS, buf, sizeof(buf));
        const char *p = strstr(buf, "pid ");
        return p ? (pid_t) atoi(p + 4) : -1;
}

/* Lines of file @path containing @needle, waiting up to @timeout_ms for at least @want. */
static int count_lines(const char *path, const char *needle, int want, int timeout_ms) {
        int n = 0;
        for (int t = 0; t <= timeout_ms; t += 100) {
                char line[4096];
                FILE *f = fopen(path, "re");
                n = 0;
                while (f && fgets(line, sizeof(line), f))
                        n += strstr(line, needle) != NULL;
                if (f)
                        fclose(f);
                if (n >= want)
                        break;
                usleep(100000);
        }
        return n;
}

static void launcher_kvmi(harness *h) {
        tap_diag("Debian's QEMU has no introspection object and no kernel here has KVMI: the spec's QEMU is "
                 "kvmi-peer, which plays vmi.c's client and the kernel and execs Debian's QEMU for the rest");
        mkdir(VMDIR, 0755);
        if (chown(VMDIR, 1000, 1000) < 0)
                tap_ok(0, "chown " VMDIR);
        char spec[1024];
        snprintf(spec, sizeof(spec),
                 "{ \"name\": \"vm-k\", \"qemu\": \"%s\", \"accel\": \"tcg\",\n"
                 "  \"memory\": \"64M\", \"vcpus\": 1, \"mem_lock\": false, \"memlock\": 0,\n"
                 "  \"kvmi\": { \"enabled\": true, \"keyed\": true, \"reconnect\": 1 },\n"
                 "  \"shutdown_timeout\": 2 }\n",
                 getenv("DELEGATE_KVMI_PEER"));
        harness_write_file(VMDIR "/vm.json", spec);
        setenv("KVMI_PEER_STATUS", STATUS, 1);
        setenv("TMPDIR", VMDIR, 1); /* the launcher's private directory for the socket */
        char *argv[] = { getenv("DELEGATE_LAUNCHER"), "--spec", VMDIR "/vm.json", NULL };
        pid_t l = harness_spawn_in_pod(h, POD, NULL, 1000, 1000, LOG, argv);
        tap_ok(l > 0, "delegate-launcher started as uid 1000 in the pod");

        bool handed = harness_file_contains(LOG, "QEMU's connection 1 handed to the broker", 60000);
        tap_ok(handed, "the launcher handed QEMU's first connection to the broker");
        tap_ok(harness_file_contains(LOG, "\"unhook\":true", 0), "the broker enabled the UNHOOK event");
        tap_ok(harness_file_contains(STATUS, "answer 1 ok", 0),
               "QEMU found the SHA-1 of the secret (passed in a sealed memfd) in the broker's answer");
        tap_ok(harness_file_contains(STATUS, "unhook-enabled 1 1", 0), "the kernel saw UNHOOK enabled");
        tap_ok(harness_file_contains(LOG, "guest running", 60000), "the guest runs (Debian's QEMU, TCG)");
        char *out = NULL;
        bool listed = harness_sh(&out, "ls %s/delegate-kvmi-*/", VMDIR) == 0 && out;
        tap_ok(listed && !strstr(out, "key") && strstr(out, "kvmi.sock"),
               "no secret file in the launcher's directory; the socket is there (%s)", listed ? out : "");
        free(out);
        pid_t p = peer_pid();
        tap_ok(p > 0, "the introspection client runs (pid %d)", (int) p);

        /* guest reset: QEMU drops the connection and reconnects */
        kill(p, SIGHUP);
        tap_ok(harness_file_contains(LOG, "QEMU's connection 2 handed to the broker", 10000),
               "reset: QEMU reconnected with a fresh hello, handed over again");
        tap_ok(harness_file_contains(LOG, "\"connection\":2", 0), "the broker reports connection 2");
        /* pause: UNHOOK, the broker closes; resume: reconnection */
        kill(p, SIGUSR1);
        tap_ok(harness_file_contains(STATUS, "unhook-event 2", 10000), "pause: QEMU sent the UNHOOK event");
        tap_ok(harness_file_contains(STATUS, "closed 2 by-tool-after-unhook", 10000),
               "the broker closed the connection: QEMU may pause");
        kill(p, SIGUSR2);
        tap_ok(harness_file_contains(LOG, "QEMU's connection 3 handed to the broker", 10000),
               "resume: QEMU reconnected, handed over again");

        /* the broker restarts: the channel is opened again with the secret QEMU holds */
        int st = harness_stop_broker(h);
        tap_ok(st >= 0 && WIFEXITED(st), "the broker stops (0x%x)", st);
        tap_is_int(harness_start_broker(h), 0, "and starts again");
        tap_ok(harness_file_contains(LOG, "KVMI: channel opened again with the restarted broker", 30000),
               "the launcher attaches again with the secret QEMU holds");
        tap_ok(count_lines(LOG, "handed to the broker: {", 4, 20000) >= 4,
               "QEMU's next connection is handed to the new broker and answered");
        tap_ok(harness_file_contains(STATUS, "answer 4 ok", 0) || harness_file_contains(STATUS, "answer 5 ok", 0) ||
                       harness_file_contains(STATUS, "answer 6 ok", 0),
               "QEMU found the same secret's hash in the new broker's answer");

        kill(l, SIGTERM);
        st = harness_wait_exit(l, 30000);
        tap_ok(st >= 0 && WIFEXITED(st), "the launcher exits after SIGTERM (0x%x)", st);
        tap_ok(harness_file_contains(STATUS, "shutdown", 10000), "QEMU's shutdown reached the introspection client");
        out = NULL;
        harness_sh(&out, "ls %s/ | grep -c delegate-kvmi- || true", VMDIR);
        tap_ok(out && atoi(out) == 0, "the launcher removed its KVMI directory");
        free(out);
        if (tap_failed_ || !handed) {
                harness_dump_file(LOG, NULL);
                harness_dump_file(STATUS, NULL);
        }
        if (waitpid(l, NULL, WNOHANG) == 0) {
                kill(l, SIGKILL);
                waitpid(l, NULL, 0);
        }
        (void) h;
}

static const scenario scenarios[] = {
        { "launcher-kvmi", policy, launcher_kvmi },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
