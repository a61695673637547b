/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client-msg.c - the library's messages (client-msg.h): the request's text,
 * the caller's args, what identifies a request for a retry, and a reply's
 * error as a delegate_error.
 */
#include <stdio.h>

#include "client-msg.h"

/* Whether @s (@len bytes) is an operation's name: nothing in it would be escaped in a JSON string */
static bool plain_name(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++) {
                char ch = s[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                      ch == '_' || ch == '-'))
                        return false;
        }
        return true;
}

/*
 * Put together without the generator: @args_text is a JSON object that
 * args_parse() accepted, so it goes as it is; an operation's name (letters,
 * digits, '.', '_', '-') is written as it is, any other @op through the
 * generator, which escapes it.
 */
const char *request_text(uint64_t id, const char *op, const char *args_text, size_t args_len, char *small,
                         size_t small_size, char **heap, size_t *ret_len) {
        static const char head[] = "{\"id\":", mid[] = ",\"op\":", tail[] = ",\"args\":";
        size_t op_len = strlen(op);
        _cleanup_erase_free_ char *quoted = NULL;
        if (!plain_name(op, op_len)) {
                _cleanup_json_gen_ json_gen *g = json_gen_new();
                if (!g)
                        return NULL;
                json_gen_str(g, op);
                if (json_gen_take(g, &quoted, &op_len) < 0)
                        return NULL;
        }
        size_t size = sizeof(head) + JSON_U64_MAX + sizeof(mid) + op_len + 2 + sizeof(tail) + args_len + 1;
        char *b = small;
        if (size > small_size && !(b = *heap = malloc(size)))
                return NULL;
        size_t n = sizeof(head) - 1;
        memcpy(b, head, n);
        n += json_format_u64(b + n, id);
        memcpy(b + n, mid, sizeof(mid) - 1);
        n += sizeof(mid) - 1;
        if (quoted) {
                memcpy(b + n, quoted, op_len);
                n += op_len;
        } else {
                b[n++] = '"';
                memcpy(b + n, op, op_len);
                n += op_len;
                b[n++] = '"';
        }
        if (args_text) {
                memcpy(b + n, tail, sizeof(tail) - 1);
                n += sizeof(tail) - 1;
                memcpy(b + n, args_text, args_len);
                n += args_len;
        }
        b[n++] = '}';
        b[n] = 0; /* for erase_free() of *@heap, should the caller not erase it first */
        *ret_len = n;
        return b;
}

/* A caller's args: a JSON object, into *@ret (its length into *@ret_len).  The text goes to the
 * broker as written, so it must be RFC 8259 JSON: yajl's extra blanks (\v, \f) are refused. */
int args_parse(const char *args_json, json_value **ret, size_t *ret_len, delegate_error *err) {
        json_parse_error je;
        size_t len = strlen(args_json);
        _cleanup_json_ json_value *v = NULL;
        int r = json_parse_flags(args_json, len, JSON_PARSE_NO_POSITIONS, &v, &je);
        if (r < 0)
                return error_set(err, r, "bad-request", -r, "args: line %u, column %u: %s", je.line, je.column,
                                 je.message);
        if (v->type != JSON_OBJECT)
                return error_set(err, -EINVAL, "bad-request", EINVAL, "args must be a JSON object, not %s",
                                 json_type_name(v->type));
        *ret = TAKE_PTR(v);
        *ret_len = len;
        return 0;
}

/* What identifies a request for a retry: op, args and how many fds it carries. */
char *lost_key(const char *op, const json_value *args, size_t n_fds) {
        _cleanup_erase_free_ char *a = NULL;
        char *key = NULL;
        if (args && json_dump(args, &a) < 0)
                return NULL;
        if (asprintf(&key, "%s\n%s\n%zu", op, a ? a : "", n_fds) < 0)
                return NULL;
        return key;
}

/* Fill @err from a reply's "error" object; returns a -errno. */
int reply_error(const json_value *e, delegate_error *err) {
        const json_value *code = json_get(e, "code"), *msg = json_get(e, "message"), *rule = json_get(e, "rule"),
                         *eno = json_get(e, "errno");
        int64_t en = 0;
        if (eno)
                json_to_i64(eno, &en);
        const char *cs = json_is_string(code) ? code->string.str : "system";
        int ret;
        switch (err_code_from_name(cs)) {
        case ERR_BAD_REQUEST:
                ret = -EINVAL;
                break;
        case ERR_API_MISMATCH:
                ret = -EPROTO;
                break;
        case ERR_DENIED:
                ret = -EACCES;
                break;
        case ERR_NOT_FOUND:
                ret = -ESRCH;
                break;
        case ERR_EXISTS:
                ret = -EEXIST;
                break;
        case ERR_TOO_LARGE:
                ret = -EMSGSIZE;
                break;
        case ERR_RATE_LIMITED:
                ret = -EBUSY;
                break;
        case ERR_UNSUPPORTED:
                ret = -EOPNOTSUPP;
                break;
        default:
                ret = en > 0 && en < 4096 ? -(int) en : -EIO;
        }
        error_set(err, ret, cs, (int) en, "%s", json_is_string(msg) ? msg->string.str : "(no message)");
        if (err && json_is_string(rule))
                snprintf(err->rule, sizeof(err->rule), "%s", rule->string.str);
        uint64_t retry;
        const json_value *rv = json_get(e, "retry_after_ms");
        if (err && rv && json_to_u64(rv, &retry) == 0)
                err->retry_after_ms = retry > UINT32_MAX ? UINT32_MAX : (uint32_t) retry;
        return ret;
}
