/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libdelegate.so loaded with dlopen() and let go with dlclose() while a
 * thread that called it still runs: the library keeps a generator per thread
 * (a pthread key with a destructor in the library), so that thread's exit
 * calls into the library after the dlclose().  Linked -z nodelete, the
 * library stays mapped and the thread ends cleanly; otherwise its exit jumps
 * into unmapped code.  In a child, so that a crash is a "not ok", not a lost
 * test program.
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include "delegate/delegate-internal.h"
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"
#include "unit-util.h"

typedef int (*ctx_new_fn)(int, delegate_ctx **, delegate_error *);
typedef int (*set_fn)(delegate_ctx *, const char *);
typedef int (*mode_fn)(delegate_ctx *, delegate_mode);
typedef int (*memlock_fn)(delegate_ctx *, pid_t, uint64_t, uint64_t, delegate_memlock_result *, delegate_error *);
typedef void (*ctx_free_fn)(delegate_ctx *);

static void *lib;
static char socket_path[300];
static pthread_barrier_t called, closed;
static int call_r = 1;

static void *caller(void *arg) {
        (void) arg;
        ctx_new_fn ctx_new = (ctx_new_fn) dlsym(lib, "delegate_ctx_new");
        set_fn set_socket = (set_fn) dlsym(lib, "delegate_ctx_set_socket");
        mode_fn set_mode = (mode_fn) dlsym(lib, "delegate_ctx_set_mode");
        memlock_fn memlock_set = (memlock_fn) dlsym(lib, "delegate_memlock_set");
        ctx_free_fn ctx_free = (ctx_free_fn) dlsym(lib, "delegate_ctx_free");
        delegate_ctx *c = NULL;
        delegate_error e = {};
        if (ctx_new && set_socket && set_mode && memlock_set && ctx_free &&
            ctx_new(DELEGATE_API_VERSION, &c, &e) == 0) {
                set_socket(c, socket_path);
                set_mode(c, DELEGATE_MODE_BROKER);
                /* builds its args with the generator, which this thread then keeps; no broker there */
                call_r = memlock_set(c, 0, 4096, DELEGATE_LIMIT_KEEP, NULL, &e);
                ctx_free(c);
        }
        pthread_barrier_wait(&called);
        pthread_barrier_wait(&closed); /* ends after the dlclose() */
        return NULL;
}

static int scenario(const char *path) {
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!lib)
                return 2;
        pthread_t t;
        pthread_barrier_init(&called, NULL, 2);
        pthread_barrier_init(&closed, NULL, 2);
        if (pthread_create(&t, NULL, caller, NULL) != 0)
                return 2;
        pthread_barrier_wait(&called);
        if (call_r >= 0)
                return 3;
        dlclose(lib);
        pthread_barrier_wait(&closed);
        pthread_join(t, NULL);
        return 0;
}

int main(int argc, char **argv) {
        if (argc != 2)
                unit_bail("usage: %s PATH-OF-LIBDELEGATE.SO", argv[0]);
        char tmpdir[256];
        unit_tmpdir(tmpdir, sizeof(tmpdir), "test-dlclose");
        snprintf(socket_path, sizeof(socket_path), "%s/nobody-here.sock", tmpdir);

        pid_t pid = fork();
        if (pid < 0)
                unit_bail("fork: %m");
        if (pid == 0)
                _exit(scenario(argv[1]));
        int status;
        if (waitpid(pid, &status, 0) < 0)
                unit_bail("waitpid: %m");
        tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "a thread that called libdelegate ends cleanly after the library's dlclose()");
        if (WIFSIGNALED(status))
                tap_diag("  the child died of signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                tap_diag("  the child's scenario failed: %d (2: dlopen/thread, 3: the call did not fail as expected)",
                         WEXITSTATUS(status));

        rmdir(tmpdir);
        return tap_done();
}
