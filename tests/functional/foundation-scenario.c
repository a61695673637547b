/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* foundation-scenario.c - see foundation-scenario.h. */
#include <stdlib.h>

#include "foundation-scenario.h"

const char policy_main[] =
        "// scenario policy: pods' launchers may lock up to 1 GiB\n"
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-launchers\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" } },\n"
        "    { \"name\": \"no-memlock\",\n"
        "      \"match\": { \"uid\": 3000 } },\n"
        "    { \"name\": \"node-root\",\n"
        "      \"match\": { \"uid\": 0, \"cgroup\": \"/system\" },\n"
        "      \"memlock\": { \"max\": \"1G\" } }\n"
        "  ]\n"
        "}\n";

pid_t spawn_child(tclient *c) {
        char *r = tclient_call(c, "child");
        pid_t p = (pid_t) jint(r, "pid");
        free(r);
        return p;
}

void start_client(harness *h, tclient *c, const char *pod, uid_t uid, const char *vm) {
        if (tclient_start(h, c, pod, uid, uid, vm) < 0)
                tap_ok(0, "start test-client in %s as uid %u", pod, (unsigned) uid);
}

void ping_ok(tclient *c, const char *when) {
        char *r = tclient_call(c, "ping");
        tap_is_int(jint(r, "ok"), 1, "another client is still served %s", when);
        free(r);
}
