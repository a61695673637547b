/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client-msg.h - the messages of libdelegate's calls, without the socket.
 */
#pragma once

#include "json.h"
#include "wire.h"

/*
 * The request {"id":ID,"op":OP,"args":ARGS} (no "args" without @args_text),
 * in @small (@small_size bytes) when it fits, else in *@heap (the caller
 * erases and frees it); its length in *@ret_len.  NULL: out of memory.
 */
const char *request_text(uint64_t id, const char *op, const char *args_text, size_t args_len, char *small,
                         size_t small_size, char **heap, size_t *ret_len);

/* A caller's args: a JSON object, into *@ret (its length into *@ret_len); -errno with @err filled. */
int args_parse(const char *args_json, json_value **ret, size_t *ret_len, delegate_error *err);

/* What identifies a request for a retry: op, args and how many fds it carries (NULL: out of memory). */
char *lost_key(const char *op, const json_value *args, size_t n_fds);

/* Fill @err from a reply's "error" object; returns the -errno its code stands for. */
int reply_error(const json_value *e, delegate_error *err);
