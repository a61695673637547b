/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-policy.c - loading the policy, and atomic reloads: a new policy
 * replaces the old one only when every file of it loaded cleanly.
 */
#include <stdio.h>
#include <syslog.h>

#include "broker.h"

static int load(broker *b, char *errbuf, size_t size) {
        policy *p = NULL;
        policy_error err;
        char buf[1024];

        int r = policy_load_dir(b->policy_dir, &p, &err);
        if (r < 0) {
                policy_error_string(&err, buf, sizeof(buf));
                log_msg(b, LOG_ERR, "policy: %s", buf);
                if (errbuf)
                        snprintf(errbuf, size, "%s", buf);
                return r;
        }
        policy_free(b->policy);
        b->policy = p;
        b->policy_generation++;
        log_msg(b, LOG_INFO, "policy generation %llu loaded from '%s': %zu rule(s) in %zu file(s)",
                (unsigned long long) b->policy_generation, b->policy_dir, p->n_rules, p->n_files);
        audit_policy_changed(b);
        return 0;
}

int broker_policy_load(broker *b) {
        return load(b, NULL, 0);
}

int broker_policy_reload(broker *b, char *err, size_t size) {
        int r = load(b, err, size);
        if (r < 0)
                log_msg(b, LOG_ERR, "policy reload failed; generation %llu stays in force",
                        (unsigned long long) b->policy_generation);
        return r;
}
