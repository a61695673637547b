/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fake-broker.h - test-client's scripted fake broker, served from a thread
 * on a SEQPACKET socket in the test's temporary directory (tmpdir).
 */
#pragma once

#include <pthread.h>
#include <stdint.h>
#include <stddef.h>

/* the test's temporary directory, made by its main() */
extern char tmpdir[200];

typedef struct fake {
        const char *welcome;   /* answer to the hello */
        const char *stale;     /* sent before the reply (an abandoned request's answer), may be NULL */
        const char *reply_fmt; /* NULL: no request expected; "%llu" stands for the request's id */
        int reply_fd;          /* attached to the reply when >= 0 */
        int rounds;            /* connections to serve one after the other (0: 1) */
        int drop_rounds;       /* the first N connections read the request and hang up unanswered */
        const char *welcome2;  /* answer to the second hello, when set */
        int delay_ms;          /* wait before the reply */
        int requests;          /* requests answered on each connection (0: 1) */

        int listen_fd;
        char path[300];
        pthread_t thread;
        /* what the fake saw */
        int accepted;
        char hello[4096];
        char request[4096];
        char first_request[4096]; /* on the first connection */
} fake;

/* A listening socket @name in tmpdir; its path in @ret_path. */
int listen_at(const char *name, char *ret_path, size_t size);
/* The "id" of a request text, 0: none. */
uint64_t request_id(const char *request);
void fake_start(fake *f, const char *name);
/* Call after the client let go of its connection (delegate_ctx_free()). */
void fake_stop(fake *f);
