/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-kvmi-setup.c - what happens on each connection QEMU makes, before
 * page-access batches may run (the kvmi.* operations of delegate-protocol(7)): QEMU's hello (104 bytes in
 * v12, later fields appended and ignored) checked against the session's
 * VM and answered with the cookie hash; then GET_VERSION, VM_CHECK_COMMAND
 * (VM_SET_PAGE_ACCESS), VM_CONTROL_EVENTS (UNHOOK) and VM_GET_INFO one at
 * a time, -KVM_EPERM retried while QEMU grants its permissions; then the
 * shadow re-applied (minus pages beyond max_gpa) and kvmi.connect answered
 * with what was done.  Also the kernel's VM events: UNHOOK closes the
 * connection, which lets QEMU pause, migrate or stop.
 */
#include <inttypes.h>
#include <stdio.h>
#include <syslog.h>

#include "broker-kvmi-chan.h"

static const char *kvm_err_name(int32_t err) {
        switch (err) {
        case -KVMI_KVM_EPERM:
                return "-KVM_EPERM";
        case -KVMI_KVM_ENOENT:
                return "-KVM_ENOENT";
        case -KVMI_KVM_ENOSYS:
                return "-KVM_ENOSYS";
        case -EINVAL:
                return "-KVM_EINVAL";
        default:
                return "an error";
        }
}

/* Send the command of the current setup step (one at a time). */
void setup_send(kvmi_channel *ch) {
        int r = 0;
        ch->retry_at = 0;
        switch (ch->step) {
        case STEP_VERSION:
                r = ch_send_simple(ch, KVMI_GET_VERSION, NULL, 0);
                break;
        case STEP_CHECK: {
                kvmi_vm_check_command cc = { .id = KVMI_VM_SET_PAGE_ACCESS };
                r = ch_send_simple(ch, KVMI_VM_CHECK_COMMAND, &cc, sizeof(cc));
                break;
        }
        case STEP_UNHOOK: {
                kvmi_vm_control_events ce = { .event_id = KVMI_VM_EVENT_UNHOOK, .enable = 1 };
                r = ch_send_simple(ch, KVMI_VM_CONTROL_EVENTS, &ce, sizeof(ce));
                break;
        }
        case STEP_INFO:
                r = ch_send_simple(ch, KVMI_VM_GET_INFO, NULL, 0);
                break;
        case STEP_DONE:
                break;
        }
        if (r < 0)
                ch_fail(ch, ENOMEM, "out of memory");
}

/* The shadow, minus what lies beyond the guest's RAM, as the head batch. */
static int queue_reapply(kvmi_channel *ch) {
        kvmi_shadow *sh = &KS(ch->c)->shadow;
        ch->last_reapply = (reapply_report) { .pages = sh->n };
        if (sh->n == 0)
                return 0;
        kbatch *b = calloc(1, sizeof(*b));
        kvmi_page_access_entry *e = b ? calloc(sh->n, sizeof(*e)) : NULL;
        if (!e) {
                free(b);
                return -ENOMEM;
        }
        /* pages in the guest's RAM from the front of @e, the others' gfns from the back */
        size_t pos = 0, n = 0, beyond = 0, total = sh->n;
        uint64_t gfn, max = ch->hello.max_gpa;
        uint8_t a;
        while (n + beyond < total && kvmi_shadow_next(sh, &pos, &gfn, &a) > 0) {
                if (max && gfn << KVMI_PAGE_SHIFT >= max)
                        e[total - 1 - beyond++].gpa = gfn;
                else
                        e[n++] = (kvmi_page_access_entry) { .gpa = gfn << KVMI_PAGE_SHIFT, .access = a };
        }
        if (beyond > 0) {
                /* the guest has no such pages (any more): the shadow forgets them */
                for (size_t i = 0; i < beyond; i++)
                        kvmi_shadow_set(sh, e[total - 1 - i].gpa, KVMI_PAGE_ACCESS_RWX);
                ch->last_reapply.beyond_ram = beyond;
                log_msg(ch->c->b, LOG_WARNING,
                        "session %llu: %zu shadow pages lie beyond the guest's RAM (max_gpa 0x%" PRIx64
                        "): not re-applied, dropped from the shadow",
                        (unsigned long long) ch->c->session, beyond, max);
        }
        if (n == 0) {
                free(e);
                free(b);
                return 0;
        }
        *b = (kbatch) { .e = e, .n = n, .err_index = SIZE_MAX, .next = ch->bhead };
        ch->bhead = b;
        if (!ch->btail)
                ch->btail = b;
        ch->reapplying = true;
        return 0;
}

/* Answer kvmi.connect with what this connection did, once ready and re-applied. */
void connect_reply(kvmi_channel *ch) {
        if (!ch->connect_req || ch->state != CH_READY || ch->reapplying)
                return;
        request *req = TAKE_PTR(ch->connect_req);
        char res[700];
        snprintf(res, sizeof(res),
                 "{\"connection\":%llu,\"vm\":\"%s\",\"keyed\":%s,\"version\":%u,\"max_msg_size\":%u,"
                 "\"vcpus\":%u,\"max_gpa\":%" PRIu64 ",\"unhook\":%s,\"eperm_retries\":%zu,"
                 "\"reapplied\":{\"pages\":%zu,\"applied\":%zu,\"refused\":%zu,\"beyond_ram\":%zu},"
                 "\"shadow_pages\":%zu}",
                 (unsigned long long) ch->connections, ch->hello.name, ch->keyed ? "true" : "false", ch->version,
                 ch->max_msg_size, ch->vcpus, ch->hello.max_gpa, ch->unhook_enabled ? "true" : "false",
                 ch->eperm_retries, ch->last_reapply.pages, ch->last_reapply.applied, ch->last_reapply.refused,
                 ch->last_reapply.beyond_ram, KS(ch->c)->shadow.n);
        request_reply_result(req, res, NULL, 0);
}

static void setup_done(kvmi_channel *ch) {
        ch->state = CH_READY;
        log_msg(ch->c->b, LOG_INFO,
                "session %llu: KVMI connection %llu ready: version %u, max_msg_size %u, %u vCPUs, max_gpa 0x%" PRIx64
                ", UNHOOK %s, %zu entries per message, %zu shadow pages to re-apply",
                (unsigned long long) ch->c->session, (unsigned long long) ch->connections, ch->version,
                ch->max_msg_size, ch->vcpus, ch->hello.max_gpa, ch->unhook_enabled ? "enabled" : "not enabled",
                ch->per_msg, KS(ch->c)->shadow.n);
        if (queue_reapply(ch) < 0)
                return ch_fail(ch, ENOMEM, "out of memory re-applying the shadow");
        connect_reply(ch);
}

/* A setup command's answer: next step, retry on -KVM_EPERM, or fail. */
void setup_reply(kvmi_channel *ch, uint16_t id, int32_t err) {
        uint64_t now = now_usec();
        if (err == -KVMI_KVM_EPERM && id != KVMI_VM_GET_INFO &&
            now + SETUP_RETRY_USEC + SETUP_LAST_TRY_USEC < ch->phase_deadline) {
                /* QEMU hooks the socket first and grants the permissions right after */
                ch->eperm_retries++;
                ch->retry_at = now + SETUP_RETRY_USEC;
                return;
        }
        switch (id) {
        case KVMI_GET_VERSION:
                if (err != 0)
                        return ch_fail(ch, EPROTO, "the kernel refused GET_VERSION (error %d)", (int) err);
                if (ch->version != KVMI_VERSION)
                        return ch_fail(ch, EPROTO, "the kernel speaks KVMI version %u; the broker needs version %d",
                                       ch->version, KVMI_VERSION);
                if (ch->max_msg_size < 8 + 16)
                        return ch_fail(ch, EPROTO, "the kernel's max_msg_size %u is too small", ch->max_msg_size);
                uint32_t m = ch->max_msg_size < KVMI_MAX_MSG_SIZE ? ch->max_msg_size : KVMI_MAX_MSG_SIZE;
                ch->per_msg = (m - 8) / 16;
                if (ch->per_msg > KVMI_PAGE_ACCESS_MAX_ENTRIES)
                        ch->per_msg = KVMI_PAGE_ACCESS_MAX_ENTRIES;
                break;
        case KVMI_VM_CHECK_COMMAND:
                if (err == -KVMI_KVM_ENOENT || err == -KVMI_KVM_ENOSYS)
                        return ch_fail(ch, EOPNOTSUPP,
                                       "the kernel does not support VM_SET_PAGE_ACCESS (VM_CHECK_COMMAND: %s)",
                                       kvm_err_name(err));
                if (err == -KVMI_KVM_EPERM)
                        return ch_fail(ch, EPERM,
                                       "VM_SET_PAGE_ACCESS is not allowed for this VM (VM_CHECK_COMMAND: -KVM_EPERM "
                                       "for %llu s): QEMU's introspection object must allow command=%d",
                                       (unsigned long long) ((KVMI_TIMEOUT_USEC - SETUP_LAST_TRY_USEC) / 1000000),
                                       KVMI_VM_SET_PAGE_ACCESS);
                if (err != 0)
                        return ch_fail(ch, EPROTO, "the kernel refused VM_CHECK_COMMAND: error %d", (int) err);
                break;
        case KVMI_VM_CONTROL_EVENTS:
                ch->unhook_enabled = err == 0;
                if (err != 0)
                        log_msg(ch->c->b, LOG_WARNING,
                                "session %llu: the kernel refused to enable the UNHOOK event (%s, error %d): a pause or "
                                "migration lifts the page restrictions without warning",
                                (unsigned long long) ch->c->session, kvm_err_name(err), (int) err);
                break;
        case KVMI_VM_GET_INFO:
                /* not always allowed in v12; page access does not need it */
                if (err != 0)
                        ch->vcpus = 0;
                break;
        }
        ch->step++;
        if (ch->step == STEP_DONE)
                return setup_done(ch);
        setup_send(ch);
}

void handle_event(kvmi_channel *ch, const kvmi_msg_hdr *h, const uint8_t *payload) {
        kvmi_event_hdr ev;
        if (h->size < sizeof(ev))
                return ch_fail(ch, EPROTO, "the kernel sent a VM event of %u bytes", h->size);
        memcpy(&ev, payload, sizeof(ev));
        if (ev.event != KVMI_VM_EVENT_UNHOOK) {
                log_msg(ch->c->b, LOG_NOTICE, "session %llu: ignoring KVMI VM event %u",
                        (unsigned long long) ch->c->session, ev.event);
                return;
        }
        ch->unhooks++;
        /* closing the connection is the answer: QEMU may pause, migrate or stop */
        ch_fail(ch, ESHUTDOWN,
                "QEMU unhooked the introspection (pause, suspend, migration or shutdown); the shadow of %zu pages is "
                "re-applied when it reconnects",
                KS(ch->c)->shadow.n);
}

static void hello_done(kvmi_channel *ch) {
        char msg[256];
        size_t keep = ch->hello_size < KVMI_HELLO_FIXED ? ch->hello_size : KVMI_HELLO_FIXED;
        if (kvmi_hello_parse(ch->rx, keep, &ch->hello, msg, sizeof(msg)) < 0)
                return ch_fail(ch, EPROTO, "QEMU's introspection hello is malformed: %s", msg);
        const char *vm = ch->c->vm ? ch->c->vm : "";
        if (!streq(ch->hello.name, vm))
                return ch_fail(ch, EPERM, "the VM name '%.64s' in QEMU's hello is not the session's VM '%s'",
                               ch->hello.name, vm);
        uint8_t reply[KVMI_HELLO_REPLY_SIZE];
        kvmi_hello_reply_build(reply, ch->keyed ? ch->secret : NULL);
        int r = tx_reserve(ch, sizeof(reply));
        if (r < 0)
                return ch_fail(ch, ENOMEM, "out of memory");
        memcpy(ch->tx + ch->tx_len, reply, sizeof(reply));
        explicit_bzero(reply, sizeof(reply));
        if (tx_commit(ch, sizeof(reply)) < 0)
                return ch_fail(ch, ENOMEM, "out of memory");
        explicit_bzero(ch->rx, sizeof(ch->rx));
        ch->rx_len = 0;
        ch->state = CH_SETUP;
        ch->step = STEP_VERSION;
        ch->phase_deadline = now_usec() + KVMI_TIMEOUT_USEC;
        /* QEMU hooks the socket into KVM after our answer; the kernel reads this then */
        setup_send(ch);
}

/* Read the hello: u32 struct_size, then the rest (104 bytes kept, what later QEMUs append discarded). */
int read_hello(kvmi_channel *ch) {
        for (;;) {
                uint8_t scratch[4096];
                size_t want;
                uint8_t *dst;
                if (ch->hello_got < 4) {
                        want = 4 - ch->hello_got;
                        dst = ch->rx + ch->hello_got;
                } else if (ch->hello_got < ch->hello_size) {
                        size_t left = ch->hello_size - ch->hello_got;
                        if (ch->hello_got < KVMI_HELLO_FIXED) {
                                want = KVMI_HELLO_FIXED - ch->hello_got < left ? KVMI_HELLO_FIXED - ch->hello_got : left;
                                dst = ch->rx + ch->hello_got;
                        } else {
                                want = left < sizeof(scratch) ? left : sizeof(scratch);
                                dst = scratch;
                        }
                } else {
                        hello_done(ch);
                        return 0;
                }
                ssize_t n = ch_recv(ch, dst, want);
                if (n <= 0)
                        return (int) n;
                ch->hello_got += n;
                if (ch->hello_got == 4) {
                        memcpy(&ch->hello_size, ch->rx, 4);
                        if (ch->hello_size < KVMI_HELLO_FIXED || ch->hello_size > KVMI_HELLO_MAX_SIZE) {
                                ch_fail(ch, EPROTO, "QEMU's introspection hello has struct_size %u (need %d-%d)",
                                        ch->hello_size, KVMI_HELLO_FIXED, KVMI_HELLO_MAX_SIZE);
                                return 0;
                        }
                }
        }
}
