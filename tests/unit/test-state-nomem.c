/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * state_parse() out of memory: the Nth malloc() of reading a saved
 * session fails (this program is linked with --wrap=malloc, which
 * reroutes the calls of the broker's code and of yajl through ours), for
 * every N until a parse succeeds with none failing.  Each failure is
 * -ENOMEM (the start logs "left for the next start" and leaves the files:
 * never -EINVAL, which would reject them and salvage the session), and the
 * session's two slot files are still there afterwards: the half-restored
 * client is freed as kept, nothing of it undone, its files not dropped.
 * On the files of tests/fuzz/corpus/state with TAP and cgroup records and
 * a retry cache, this broker's ("sent") and an older broker's (quoted).
 * Without the fix (the client freed as kept on those paths) the files are
 * removed at the allocations of the answers' json_parse()/json_dump().
 * From the first allocation on, with no parse before it: the generator's
 * own allocations fail too (yajl 2.1's generator, which we had, wrote
 * through the NULL of its buffer's and crashed here).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker-op.h"
#include "broker.h"
#include "tap.h"
#include "wrap-malloc.h"
#include "unit-util.h"

static broker b = { .state_fd = -EBADF };
static char corpus[4096];

static void put(const char *name, const char *text, size_t len) {
        int fd = openat(b.state_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, text, len) != (ssize_t) len)
                unit_bail("%s: %m", name);
        close(fd);
}

static bool present(const char *name) {
        return faccessat(b.state_fd, name, F_OK, 0) == 0;
}

static void each_failure(const char *file) {
        size_t len;
        char *text = unit_slurp(corpus, file, &len);
        unsigned failures = 0, bad = 0;
        put("session-1.json", text, len);
        put("session-1.b.json", text, len);
        for (fail_at = 1; fail_at < 5000; fail_at++) {
                client *c = NULL;
                char msg[256] = "";
                seen = 0;
                armed = true;
                int r = state_parse(&b, text, len, &c, msg, sizeof(msg));
                armed = false;
                bool both = present("session-1.json") && present("session-1.b.json");
                if (r == 0) {
                        c->detached_keep = true;
                        client_free(c);
                        if (seen < fail_at)
                                break; /* no allocation failed: all were tried */
                        continue;
                }
                failures++;
                if (r != -ENOMEM || !both) {
                        bad++;
                        tap_diag("  %s: malloc %u failing: %d (%s), slot files %s", file, fail_at, r, msg,
                                 both ? "both there" : "REMOVED");
                        put("session-1.json", text, len);
                        put("session-1.b.json", text, len);
                }
        }
        tap_ok(fail_at < 5000 && failures > 0 && bad == 0,
               "%s: %u of %u allocations failing: -ENOMEM, both slot files left", file, failures, fail_at - 1);
        free(text);
}

int main(int argc, char **argv) {
        if (argc < 2)
                unit_bail("usage: %s CORPUS-DIR", argv[0]);
        snprintf(corpus, sizeof(corpus), "%s", argv[1]);
        char dir[4096];
        unit_tmpdir(dir, sizeof(dir), "test-state-nomem");
        b.state_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b.state_fd < 0)
                unit_bail("%s: %m", dir);
        b.state_dir = dir;
        each_failure("broker-all-records.json");
        each_failure("older-broker-quoted-replies.json");
        unlinkat(b.state_fd, "session-1.json", 0);
        unlinkat(b.state_fd, "session-1.b.json", 0);
        close(b.state_fd);
        rmdir(dir);
        return tap_done();
}
