/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-faults.c - nothing lost under faults (issue 14):
 *   faults-replies      hostile handshakes and strings get the documented
 *                       codes, and every reply is valid UTF-8 (checked by
 *                       this file's own decoder, not the broker's);
 *   faults-cgroup-cap   a session creates at most 32 cgroups, the rest are
 *                       refused, and every one created is removed after;
 *   faults-state-files  forged and broken state files (FIFO, directory,
 *                       cgroup '/', a bridge named as a TAP, pids and
 *                       session numbers out of range) are moved aside, do
 *                       no damage, and what they name safely is undone;
 *   faults-zombies      the TAP-removal process and a helper in flight at
 *                       SIGTERM are reaped by the broker (this process is a
 *                       child subreaper: what the broker leaves, it finds);
 *   faults-pid-reuse    the broker (one loop), traced, is held just before it writes
 *                       a pid to cgroup.procs while that pid is given to a
 *                       process in another pod: the stranger is put back;
 *   faults-chaos        kill -9 of the broker and its client at random
 *                       points, counting TAPs, cgroups, state files, the
 *                       broker's fds and zombies after every cycle.
 * Assertions read the kernel (ip link, the cgroup tree, /proc) and the
 * state directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define STATE_DIR "/run/delegate/state"
#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char policy_faults[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-a\",\n"
        "      \"match\": { \"uid\": 1000, \"cgroup\": \"/kubepods.slice/pod-a\" },\n"
        "      \"cgroup\": { \"targets\": [\"housekeeping\", \"c*\"], \"create\": true },\n"
        "      \"tap\": { \"persist\": true } },\n"
        "    { \"name\": \"node-root\",\n"
        "      \"match\": { \"uid\": 0, \"cgroup\": \"/system\" },\n"
        "      \"memlock\": { \"max\": \"1G\" },\n"
        "      \"cgroup\": { \"targets\": \"housekeeping\" },\n"
        "      \"tap\": { \"persist\": true } }\n"
        "  ]\n"
        "}\n";

/* --- helpers --- */

/* RFC 3629, written out here rather than shared with the broker. */
static bool utf8_valid(const char *str) {
        const unsigned char *s = (const unsigned char *) str;
        while (*s) {
                uint32_t cp;
                int n;
                if (s[0] < 0x80) {
                        s++;
                        continue;
                } else if ((s[0] & 0xe0) == 0xc0) {
                        cp = s[0] & 0x1f;
                        n = 1;
                } else if ((s[0] & 0xf0) == 0xe0) {
                        cp = s[0] & 0x0f;
                        n = 2;
                } else if ((s[0] & 0xf8) == 0xf0) {
                        cp = s[0] & 0x07;
                        n = 3;
                } else
                        return false;
                for (int i = 1; i <= n; i++) {
                        if ((s[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i] & 0x3f);
                }
                static const uint32_t min[] = { 0, 0x80, 0x800, 0x10000 };
                if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                s += n + 1;
        }
        return true;
}

/* Send @msg with one fd (/dev/null) as SCM_RIGHTS. */
static int send_with_fd(int fd, const char *msg) {
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int))];
        } cm = {};
        struct iovec iov = { (void *) msg, strlen(msg) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm) };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &nul, sizeof(int));
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        close(nul);
        return n == (ssize_t) strlen(msg) ? 0 : -errno;
}

/* Wait up to @ms for @cond. */
#define WAIT_MS(cond, ms)                                                                                   \
        ({                                                                                                  \
                bool _ok = false;                                                                           \
                for (int _i = 0; _i < (ms) / 10 && !(_ok = (cond)); _i++)                                   \
                        usleep(10000);                                                                      \
                _ok;                                                                                        \
        })

static bool cgroup_exists(harness *h, const char *rel) {
        char p[700];
        harness_cgroup_path(h, rel, p, sizeof(p));
        return access(p, F_OK) == 0;
}

/* Subdirectories (cgroups) below NODE/@rel. */
static int count_subcgroups(harness *h, const char *rel) {
        char p[700];
        harness_cgroup_path(h, rel, p, sizeof(p));
        DIR *d = opendir(p);
        int n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
                n += de->d_type == DT_DIR && de->d_name[0] != '.';
        if (d)
                closedir(d);
        return n;
}

static int count_links(const char *netns) {
        char *out = NULL;
        int n = -1;
        if (harness_sh(&out, "ip %s%s -o link show | wc -l", netns ? "-n " : "", netns ? netns : "") == 0 && out)
                n = atoi(out);
        free(out);
        return n;
}

/* The ifindex of @name in @netns (NULL: the scenario's), -1 when there is none. */
static int link_index(const char *netns, const char *name) {
        char *out = NULL;
        int n = -1;
        if (harness_sh(&out, "ip %s%s -o link show dev %s 2>/dev/null | cut -d: -f1", netns ? "-n " : "",
                       netns ? netns : "", name) == 0 && out && *out)
                n = atoi(out);
        free(out);
        return n;
}

static int count_files(const char *dir, const char *suffix) {
        DIR *d = opendir(dir);
        int n = 0;
        struct dirent *de;
        while (d && (de = readdir(d))) {
                size_t l = strlen(de->d_name), k = strlen(suffix);
                if (de->d_name[0] != '.' && l >= k && strcmp(de->d_name + l - k, suffix) == 0)
                        n++;
        }
        if (d)
                closedir(d);
        return n;
}

/* State letter, parent and start time (field 22) of process @pid from
 * /proc/PID/stat; false when it is gone. */
static bool proc_stat(pid_t pid, char *ret_state, int *ret_ppid, unsigned long long *ret_start) {
        char path[64], buf[1024];
        unsigned long long start = 0;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        size_t k = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[k] = 0;
        char *e = strrchr(buf, ')');
        /* after ')' come fields 3.. */
        if (!e || sscanf(e + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                         ret_state, ret_ppid, &start) != 3)
                return false;
        if (ret_start)
                *ret_start = start;
        return true;
}

/* Each child of @parent, with its state, to @fn; how many @fn returned true for. */
static int children_where(pid_t parent, bool (*fn)(pid_t pid, char state)) {
        DIR *d = opendir("/proc");
        int n = 0;
        struct dirent *de;
        while (d && (de = readdir(d))) {
                char state;
                int ppid;
                pid_t pid = (pid_t) atoi(de->d_name);
                if (pid > 0 && proc_stat(pid, &state, &ppid, NULL) && ppid == parent)
                        n += fn(pid, state);
        }
        if (d)
                closedir(d);
        return n;
}

static bool is_zombie(pid_t pid, char state) {
        return state == 'Z';
}

/* Zombies whose parent is this process or @other. */
static int count_zombies(pid_t other) {
        return children_where(getpid(), is_zombie) + (other > 0 ? children_where(other, is_zombie) : 0);
}

/* A child of ours or the broker's but @skip, to the TAP output (zombies only with @zombies). */
static bool show_zombies_only;
static pid_t show_skip;
static bool show_child(pid_t pid, char state) {
        if ((show_zombies_only && state != 'Z') || pid == show_skip)
                return false;
        char path[64], comm[64] = "?";
        int ppid = 0;
        snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
        FILE *f = fopen(path, "re");
        if (f) {
                if (fgets(comm, sizeof(comm), f))
                        comm[strcspn(comm, "\n")] = 0;
                fclose(f);
        }
        proc_stat(pid, &state, &ppid, NULL);
        tap_diag("  pid %d ppid %d state %c comm %s", (int) pid, ppid, state, comm);
        return true;
}

static void show_children(pid_t other, bool zombies, pid_t skip) {
        show_zombies_only = zombies, show_skip = skip;
        children_where(getpid(), show_child);
        if (other > 0)
                children_where(other, show_child);
}

static void write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text))
                tap_ok(0, "write %s: %s", path, strerror(errno));
        if (fd >= 0)
                close(fd);
}

/* A session state file as the broker writes it (version 1). */
static void write_state(const char *name, const char *session, const char *pid, uint64_t starttime,
                        const char *cgroup, uint64_t ns_dev, uint64_t ns_ino, const char *cgroups,
                        const char *taps) {
        char path[300], text[4096];
        snprintf(path, sizeof(path), STATE_DIR "/%s", name);
        snprintf(text, sizeof(text),
                 "{\"version\":1,\"session\":%s,\"token_sha256\":\"" HASH "\",\"client\":\"x\",\"vm\":\"vm-a\","
                 "\"peer\":{\"pid\":%s,\"starttime\":%" PRIu64 ",\"uid\":1000,\"gid\":1000,\"cgroup\":\"%s\","
                 "\"netns_dev\":%" PRIu64 ",\"netns_ino\":%" PRIu64 "},\"allowed\":1,\"denied\":0,"
                 "\"threads_moved\":0,\"sched_changes\":0,\"memlock\":[],\"cgroups_created\":[%s],\"tap\":[%s],"
                 "\"replies\":[]}",
                 session, pid, starttime, cgroup, ns_dev, ns_ino, cgroups, taps);
        write_file(path, text);
}

static uint64_t starttime_of(pid_t pid) {
        char state;
        int ppid;
        unsigned long long t = 0;
        return proc_stat(pid, &state, &ppid, &t) ? t : 0;
}

/* --- faults-replies --- */

static void faults_replies(harness *h) {
        static const struct {
                const char *hello, *code, *what;
        } hellos[] = {
                { "{\"type\":\"hello\",\"api\":9223372036854775808}", "api-mismatch", "api 2^63" },
                { "{\"type\":\"hello\",\"api\":-99999999999999999999}", "api-mismatch", "api -10^20" },
                { "{\"type\":\"hello\",\"api\":1.5}", "bad-request", "api 1.5" },
                { "{\"type\":\"hello\",\"api\":1,\"resume\":{\"session\":1,\"token\":"
                  "\"0123456789abcdef0123456789abcdef\",\"extra\":1}}",
                  "bad-request", "an unknown key inside resume" },
                { "{\"type\":\"hello\",\"api\":1,\"resume\":{\"session\":1,\"token\":"
                  "\"0123456789abcdef0123456789abcdeZ\"}}",
                  "bad-request", "a resume token that is not hex" },
                { "{\"type\":\"hello\",\"api\":1,\"resume\":{\"session\":1,\"token\":"
                  "\"0123456789abcdef0123456789abcdef\"}}",
                  "not-found", "a well-formed resume of an unknown session" },
                { "{\"type\":\"hello\",\"api\":1,\"client\":\"h\xc0\xaf\"}", "bad-request", "an overlong '/'" },
                { "{\"type\":\"hello\",\"api\":1,\"vm\":\"\xed\xa0\x80\"}", "bad-request", "an encoded surrogate" },
        };
        for (size_t i = 0; i < sizeof(hellos) / sizeof(hellos[0]); i++) {
                int fd = raw_connect();
                char *r = raw_call(fd, hellos[i].hello);
                tap_is_str(jstr(r, "code"), hellos[i].code, "hello with %s: %s (%s)", hellos[i].what, hellos[i].code,
                           r ? r : "no reply");
                tap_ok(r && utf8_valid(r), "  the reply is valid UTF-8");
                free(r);
                close(fd);
        }

        /* a hello with an fd is refused, as protocol(7) says */
        int fd = raw_connect();
        tap_is_int(send_with_fd(fd, "{\"type\":\"hello\",\"api\":1}"), 0, "a hello carrying an fd is sent");
        char *r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "code"), "bad-request", "it is refused with bad-request (%s)", r ? r : "no reply");
        free(r);
        r = raw_recv(fd, 2000);
        tap_ok(r == NULL, "and the connection closed");
        free(r);
        close(fd);

        fd = raw_hello();
        tap_ok(fd >= 0, "a plain hello is welcomed");
        /* a request with one fd keeps its id */
        tap_is_int(send_with_fd(fd, "{\"id\":41,\"op\":\"ping\"}"), 0, "a ping carrying an fd is sent");
        r = raw_recv(fd, 5000);
        tap_is_int(jint(r, "id"), 41, "its bad-request answer carries its id 41 (%s)", r ? r : "no reply");
        tap_is_str(jstr(r, "error.code"), "bad-request", "  code bad-request");
        free(r);

        static const struct {
                const char *req, *what;
        } reqs[] = {
                { "{\"id\":1,\"op\":\"cgroup.move\",\"args\":{\"pid\":0,\"target\":\"h\xc3\xb3usekeeping\"}}",
                  "a target 'h\xc3\xb3usekeeping' (valid UTF-8, refused name)" },
                { "{\"id\":2,\"op\":\"cgroup.move\",\"args\":{\"pid\":0,\"target\":\"\xc3\xb3\xc3\xb3\xc3\xb3\"}}",
                  "a target of three 2-byte characters" },
                { "{\"id\":3,\"op\":\"tap.create\",\"args\":{\"name\":\"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2"
                  "\x82\xac\xe2\x82\xac\xe2\x82\xac\"}}",
                  "a TAP name of six euro signs" },
                { "{\"id\":4,\"op\":\"p\xf4\x90\x80\x80ng\"}", "an op with U+110000" },
                { "{\"id\":5,\"op\":\"ping\",\"args\":{\"\xe0\x80\xaf\":1}}", "a key with an overlong '/'" },
                { "{\"id\":6,\"op\":\"h\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3"
                  "\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3"
                  "\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\xc3\xb3\"}",
                  "an unknown op of 65 bytes, cut short in the message" },
        };
        for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
                r = raw_call(fd, reqs[i].req);
                tap_ok(r && jint(r, "ok") == 0, "%s is refused (%s)", reqs[i].what, r ? r : "no reply");
                tap_ok(r && utf8_valid(r), "  the reply is valid UTF-8");
                free(r);
        }
        close(fd);
}

/* --- faults-cgroup-cap --- */

static void faults_cgroup_cap(harness *h) {
        tclient a;
        if (tclient_start(h, &a, POD_A, 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start the launcher stand-in");
        char *r = tclient_call(&a, "child");
        pid_t child = (pid_t) jint(r, "pid");
        free(r);
        int ok = 0, refused = 0;
        char last[1024] = "";
        for (int i = 0; i < 40; i++) {
                r = tclient_call(&a, "call cgroup.move {\"pid\":%d,\"target\":\"c%d\",\"create\":true}", (int) child, i);
                if (jint(r, "ok") == 1)
                        ok++;
                else {
                        refused++;
                        snprintf(last, sizeof(last), "%s", r);
                }
                free(r);
        }
        tap_is_int(ok, 32, "32 cgroups are created for one session");
        tap_is_int(refused, 8, "the other 8 are refused");
        tap_has_str(last, "\"code\":\"denied\"", "  with denied");
        tap_has_str(last, "already created 32 cgroups", "  saying the session's limit (%s)", last);
        tap_is_int(count_subcgroups(h, POD_A), 32, "exactly 32 exist below pod-a");
        r = tclient_call(&a, "state");
        tap_ok(jint(r, "ok") == 1 && strstr(r, "/kubepods.slice/pod-a/c31") && !strstr(r, "pod-a/c32"),
               "state.get lists the 32 it created and no more");
        free(r);
        free(tclient_call(&a, "reap %d", (int) child));
        tclient_stop(&a);
        tap_ok(WAIT_MS(count_subcgroups(h, POD_A) == 0, 5000), "after the session, none of them is left (%d)",
               count_subcgroups(h, POD_A));
}

/* --- faults-state-files --- */

static void faults_state_files(harness *h) {
        pid_t pause = harness_pod_with_pause(h, POD_A, "pod-a");
        struct stat ns;
        tap_ok(stat("/run/netns/pod-a", &ns) == 0, "pod-a's netns is known");
        (void) pause;
        /* a dead peer: a child that exited */
        pid_t dead = fork();
        if (dead == 0)
                _exit(0);
        waitpid(dead, NULL, 0);
        char deadpid[32];
        snprintf(deadpid, sizeof(deadpid), "%d", (int) dead);

        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker stops");

        /* what must survive the forged files */
        tap_is_int(harness_sh(NULL, "ip -n pod-a link add brf type bridge"), 0, "pod-a has a bridge 'brf'");
        int br = link_index("pod-a", "brf");
        char p[700];
        harness_cgroup_path(h, "victim", p, sizeof(p));
        tap_ok(mkdir(p, 0755) == 0, "an empty top-level cgroup 'victim' exists");
        /* what a rejected file names and may be undone */
        tap_is_int(harness_sh(NULL, "ip netns exec pod-a ip tuntap add vnet7 mode tap"), 0,
                   "pod-a has a persistent TAP vnet7");
        int tap7 = link_index("pod-a", "vnet7");
        tap_ok(mkdir((harness_cgroup_path(h, POD_A "/left", p, sizeof(p)), p), 0755) == 0,
               "pod-a has a cgroup 'left'");

        tap_is_int(mkfifo(STATE_DIR "/session-7.json", 0600), 0, "a FIFO named session-7.json");
        tap_is_int(mkdir(STATE_DIR "/session-8.json", 0700), 0, "a directory named session-8.json");
        write_state("session-9.json", "9", deadpid, 1, "/", 0, 0, "\"/victim\"", "");
        char taps[256];
        snprintf(taps, sizeof(taps), "{\"name\":\"brf\",\"ifindex\":%d,\"persist\":true,\"adopted\":false}", br);
        write_state("session-10.json", "10", deadpid, 1, "/kubepods.slice/pod-a", ns.st_dev, ns.st_ino, "", taps);
        snprintf(taps, sizeof(taps), "{\"name\":\"vnet7\",\"ifindex\":%d,\"persist\":true,\"adopted\":false}", tap7);
        write_state("session-11.json", "11", "4294967297", 1, "/kubepods.slice/pod-a", ns.st_dev, ns.st_ino,
                    "\"/kubepods.slice/pod-a/left\"", taps);
        char self[32];
        snprintf(self, sizeof(self), "%d", (int) getpid());
        write_state("session-18446744073709551615.json", "18446744073709551615", self, starttime_of(getpid()),
                    "/system", 0, 0, "", "");

        uint64_t t0 = (uint64_t) time(NULL);
        tap_is_int(harness_start_broker(h), 0, "the broker starts and listens despite them");
        tap_ok((uint64_t) time(NULL) - t0 < 5, "  without hanging on the FIFO");
        static const char *const rejected[] = { "session-7.json", "session-8.json", "session-9.json",
                                                "session-11.json", "session-18446744073709551615.json" };
        for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++) {
                char a[300], b[300];
                snprintf(a, sizeof(a), STATE_DIR "/%s", rejected[i]);
                snprintf(b, sizeof(b), STATE_DIR "/%s.rejected", rejected[i]);
                tap_ok(access(a, F_OK) != 0 && access(b, F_OK) == 0, "%s is moved aside to %s.rejected", rejected[i],
                       rejected[i]);
        }
        tap_ok(harness_log_contains("session-7.json': not a regular file"), "the FIFO is reported");
        tap_ok(harness_log_contains("peer cgroup '/' is not a cgroup below the root"), "cgroup '/' is reported");
        tap_ok(harness_log_contains("\"pid\" must be an integer from 1 to 4194304"), "pid 2^32+1 is reported");
        tap_ok(cgroup_exists(h, "victim"), "the top-level cgroup 'victim' is still there");
        tap_ok(link_index("pod-a", "brf") == br, "the bridge 'brf' is still there (a TAP record cannot remove it)");
        tap_ok(WAIT_MS(link_index("pod-a", "vnet7") < 0, 5000),
               "the rejected file's TAP vnet7 (name, index and kind checked) is removed");
        tap_ok(WAIT_MS(!cgroup_exists(h, POD_A "/left"), 5000),
               "its cgroup below pod-a (the policy lets pod-a create cgroups) is removed");
        tap_ok(count_files(STATE_DIR, ".json") == 0, "no state file is left in use (%d)", count_files(STATE_DIR, ".json"));

        int fd = raw_connect();
        char *w = raw_call(fd, "{\"type\":\"hello\",\"api\":1}");
        tap_ok(w && jint(w, "session") >= 1, "a new session gets a number from 1, not 0 (%s)", w ? w : "no reply");
        free(w);
        close(fd);
        /* the removal in the pod's namespace ran in a child the broker reaps from its loop: at once, or soon */
        tap_ok(WAIT_MS(count_zombies(h->broker_pid) == 0, 5000), "no zombie is left behind");
        st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM stops the broker cleanly");
        harness_sh(NULL, "ip -n pod-a link del brf");
        harness_cgroup_path(h, "victim", p, sizeof(p));
        rmdir(p);
        tap_is_int(harness_start_broker(h), 0, "the broker starts again");
}

/* --- faults-zombies --- */

/* A child of @pid (of any of its threads), or 0. */
static pid_t child_of(pid_t pid) {
        char buf[256];
        harness_children(pid, buf, sizeof(buf));
        return (pid_t) atoi(buf);
}

static void faults_zombies(harness *h) {
        tap_is_int(prctl(PR_SET_CHILD_SUBREAPER, 1), 0, "this process reaps nothing but what it knows");

        /* 1. the TAP-removal process at session end */
        int fd = raw_hello();
        char *r = raw_call(fd, "{\"id\":1,\"op\":\"tap.create\",\"args\":{\"name\":\"vnet%d\",\"persist\":true}}");
        char name[32];
        snprintf(name, sizeof(name), "%s", jstr(r, "result.name"));
        tap_ok(jint(r, "ok") == 1 && link_index(NULL, name) > 0, "a session creates persistent TAP %s (%s)", name,
               r ? r : "no reply");
        free(r);
        close(fd);
        tap_ok(WAIT_MS(link_index(NULL, name) < 0, 5000), "as the session ends, %s is removed", name);
        usleep(300 * 1000);
        tap_is_int(count_zombies(h->broker_pid), 0, "the process that removed it was reaped (no zombie)");

        /* 2. a helper in flight at SIGTERM: two sessions ask at once, one step forks while the netns worker runs */
        fd = raw_hello();
        int fd2 = raw_hello();
        pid_t helper = 0;
        for (int i = 0; i < 200 && !helper; i++) {
                char req[160];
                snprintf(req, sizeof(req), "{\"id\":%d,\"op\":\"tap.create\",\"args\":{\"name\":\"vnet%%d\"}}",
                         100 + i);
                raw_send(fd, req, strlen(req));
                raw_send(fd2, req, strlen(req));
                for (int k = 0; k < 20000 && !helper; k++) {
                        pid_t c = child_of(h->broker_pid);
                        if (c > 0 && kill(c, SIGSTOP) == 0)
                                helper = c;
                }
                for (int k = 0; k < 2 && !helper; k++)
                        free(raw_recv(k ? fd2 : fd, 2000));
        }
        tap_ok(helper > 0, "a tap.create helper (pid %d) is stopped while its request is in flight", (int) helper);
        usleep(50 * 1000);
        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM stops the broker cleanly (status %#x)", st);
        usleep(300 * 1000);
        tap_is_int(count_zombies(0), 0, "its helper was killed and reaped by the broker (no zombie here)");
        close(fd);
        close(fd2);
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        tap_is_int(harness_start_broker(h), 0, "the broker starts again");
}

/* --- faults-pid-reuse --- */

/*
 * The pid-reuse window of a whole-process cgroup.move, made to happen: the
 * broker is traced (ptrace, syscall stops) and held at the openat() of
 * cgroup.procs for writing, after every check it makes before the write.
 * There the client (the target, "pid": 0) is killed and reaped, and a
 * process in pod-b is forked with the same pid (ns_last_pid).  The broker
 * then writes that number: it must notice its pidfd no longer answers and
 * put the stranger back where it came from.
 */
static bool broker_at_procs_write(pid_t b) {
        struct __ptrace_syscall_info si;
        if (ptrace(PTRACE_GET_SYSCALL_INFO, b, sizeof(si), &si) <= 0 || si.op != PTRACE_SYSCALL_INFO_ENTRY ||
            si.entry.nr != SYS_openat || (si.entry.args[2] & O_ACCMODE) != O_WRONLY)
                return false;
        char path[64] = "", mem[64];
        snprintf(mem, sizeof(mem), "/proc/%d/mem", (int) b);
        int fd = open(mem, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                ssize_t n = pread(fd, path, sizeof(path) - 1, (off_t) si.entry.args[1]);
                path[n > 0 ? n : 0] = 0;
                close(fd);
        }
        return strcmp(path, "cgroup.procs") == 0;
}

/* Fork, in @cg, a process that gets pid @want (or another: retried by the caller); its pid. */
static pid_t spawn_with_pid(harness *h, const char *cg, pid_t want) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        pid_t spawner = fork();
        if (spawner == 0) {
                harness_move(h, getpid(), cg);
                pid_t got = -1;
                for (int i = 0; i < 50 && got != want; i++) {
                        if (got > 0) {
                                kill(got, SIGKILL);
                                waitpid(got, NULL, 0);
                        }
                        FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "we");
                        if (f) {
                                fprintf(f, "%d", (int) want - 1);
                                fclose(f);
                        }
                        got = fork();
                        if (got == 0) {
                                for (;;)
                                        pause();
                        }
                }
                if (write(p[1], &got, sizeof(got)) != sizeof(got))
                        _exit(1);
                for (;;)
                        pause(); /* the stranger's parent, in @cg */
        }
        close(p[1]);
        pid_t got = -1;
        if (read(p[0], &got, sizeof(got)) != sizeof(got))
                got = -1;
        close(p[0]);
        return got;
}

/* One try; false when another process took the pid first (the machine is busy): try again. */
static bool pid_reuse_once(harness *h, int attempt) {
        tclient a;
        char target_cg[16];
        snprintf(target_cg, sizeof(target_cg), "c%d", attempt);
        if (tclient_start(h, &a, POD_A, 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start the launcher stand-in");
        free(tclient_call(&a, "ping"));
        pid_t target = a.pid, b = h->broker_pid;
        if (ptrace(PTRACE_SEIZE, b, 0, PTRACE_O_TRACESYSGOOD) < 0) {
                tap_ok(0, "the broker is traced (%s)", strerror(errno));
                return true;
        }
        ptrace(PTRACE_INTERRUPT, b, 0, 0);
        waitpid(b, NULL, __WALL);
        char req[128];
        int n = snprintf(req, sizeof(req), "call cgroup.move {\"pid\":0,\"target\":\"%s\",\"create\":true}\n", target_cg);
        if (write(a.in, req, n) != n)
                tap_diag("short write to the client");
        bool held = false;
        for (int i = 0; i < 200000 && !held; i++) {
                int st;
                if (ptrace(PTRACE_SYSCALL, b, 0, 0) < 0 || waitpid(b, &st, __WALL) != b || WIFEXITED(st))
                        break;
                held = WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80) && broker_at_procs_write(b);
        }
        if (!held) {
                ptrace(PTRACE_DETACH, b, 0, 0);
                tap_ok(0, "the broker is held at opening cgroup.procs for the write");
                return true;
        }
        /* the target exits and is reaped; a stranger in pod-b gets its pid */
        kill(target, SIGKILL);
        waitpid(target, NULL, 0);
        a.pid = 0;
        pid_t stranger = spawn_with_pid(h, "kubepods.slice/pod-b", target);
        ptrace(PTRACE_DETACH, b, 0, 0);
        tclient_stop(&a);
        if (stranger != target) {
                tap_diag("try %d: pid %d was taken by another process first (got %d)", attempt, (int) target,
                         (int) stranger);
                return false;
        }
        tap_ok(1, "held at opening cgroup.procs, the client (pid %d) was killed and reaped, and a process in "
               "pod-b got its pid",
               (int) target);
        /* the broker goes on once detached: wait (bounded) for its word */
        tap_ok(WAIT_MS(harness_log_contains("was reused while it was moved"), 5000),
               "the broker notices the pid was reused");
        tap_is_str(harness_task_cgroup(stranger, stranger), "/kubepods.slice/pod-b",
                   "the stranger is back in pod-b, not left in pod-a's cgroup");
        char rel[64];
        snprintf(rel, sizeof(rel), POD_A "/%s", target_cg);
        tap_ok(WAIT_MS(!cgroup_exists(h, rel), 5000), "the created cgroup is removed with the session");
        return true;
}

static void faults_pid_reuse(harness *h) {
        /* the tracer stops the thread that serves the client: with one loop (--threads 1) that is the main
         * thread, whose tid is the broker's pid; the check under test is the same on any loop */
        harness_stop_broker(h);
        const char *one[] = { "--threads", "1", NULL };
        tap_is_int(harness_start_broker_args(h, one), 0, "the broker starts with one loop (--threads 1)");
        bool done = false;
        for (int i = 0; i < 8 && !done; i++)
                done = pid_reuse_once(h, i);
        tap_ok(done, "the pid could be reused within 8 tries");
}

/* --- faults-chaos --- */

#define CHAOS_CYCLES 150
#define CHAOS_SECONDS 120

static void chaos_reap_child(pid_t child) {
        kill(child, SIGKILL);
        /* it becomes ours (subreaper) once its parent is gone */
        for (int i = 0; i < 300; i++) {
                if (waitpid(child, NULL, WNOHANG) == child)
                        return;
                usleep(10000);
        }
}

/* Not @keep: counted; a zombie: reaped too. */
static pid_t orphans_keep;
static int orphans_reaped;
static bool orphan(pid_t pid, char state) {
        if (pid == orphans_keep)
                return false;
        if (state == 'Z' && waitpid(pid, NULL, WNOHANG) == pid)
                orphans_reaped++;
        return true;
}

/* What a killed broker left running (helpers, removal processes) became
 * ours: wait for it to end and reap it, as a service manager would.
 * Returns how many were reaped. */
static int reap_orphans(pid_t keep) {
        orphans_keep = keep;
        orphans_reaped = 0;
        int left = 0;
        for (int i = 0; i < 300 && (left = children_where(getpid(), orphan)) > 0; i++)
                usleep(10000);
        if (left > 0) { /* gave up after 3 s: said, so that what a later count finds is explained */
                tap_diag("after 3 s, %d process(es) the killed broker left are still ours, not reaped:", left);
                show_children(0, false, keep);
        }
        return orphans_reaped;
}

static void faults_chaos(harness *h) {
        tap_is_int(prctl(PR_SET_CHILD_SUBREAPER, 1), 0, "this process reaps nothing but what it knows");
        pid_t pause = harness_pod_with_pause(h, POD_A, "pod-a");
        unsigned seed = (unsigned) time(NULL) ^ (unsigned) getpid();
        tap_diag("seed %u", seed);
        srand(seed);
        int base_fds = harness_fd_count_steady(h->broker_pid), kills = 0, bad = 0, orphans = 0;
        time_t t0 = time(NULL);
        int cycle;
        for (cycle = 0; cycle < CHAOS_CYCLES && time(NULL) - t0 < CHAOS_SECONDS; cycle++) {
                tclient a;
                if (tclient_start_netns(h, &a, POD_A, "pod-a", 1000, 1000, "vm-a") < 0) {
                        tap_ok(0, "cycle %d: start the launcher stand-in", cycle);
                        break;
                }
                char *r = tclient_call(&a, "child");
                pid_t child = (pid_t) jint(r, "pid");
                free(r);
                /* the work, not waited for: the kill lands somewhere inside it */
                char cmds[512];
                int n = snprintf(cmds, sizeof(cmds),
                                 "call cgroup.move {\"tids\":[%d],\"target\":\"housekeeping\",\"create\":true}\n"
                                 "call tap.create {\"name\":\"vnet%%d\",\"persist\":true}\n"
                                 "call cgroup.move {\"pid\":%d,\"target\":\"c%d\",\"create\":true}\n"
                                 "call tap.create {\"name\":\"vnet%%d\",\"persist\":true}\n",
                                 (int) child, (int) child, cycle);
                if (write(a.in, cmds, n) != n)
                        tap_diag("cycle %d: short write to the client", cycle);
                usleep((useconds_t) (rand() % 15000));
                bool kill_broker = rand() % 3 != 0;
                if (kill_broker) {
                        harness_kill_broker(h);
                        kills++;
                }
                kill(a.pid, SIGKILL);
                tclient_stop(&a);
                chaos_reap_child(child);
                if (kill_broker)
                        orphans += reap_orphans(pause);
                if (kill_broker && harness_start_broker_args(h, (const char *const[]) { "--resume-timeout", "1", NULL }) < 0) {
                        tap_ok(0, "cycle %d: the broker restarts", cycle);
                        break;
                }
                /* settle: the session is over, whether the broker died or not */
                bool clean = WAIT_MS(count_links("pod-a") == 1 && count_subcgroups(h, POD_A) == 0 &&
                                             count_files(STATE_DIR, ".json") == 0,
                                     5000);
                /* base + 1: sd-event opens its inotify fd the first time a busy cgroup is watched */
                int fds = harness_fd_count_settle(h->broker_pid, base_fds, 2000);
                /* a helper that answered is a zombie until the broker handles that answer, which reaps it
                 * (helper_finish(), broker-helper.c): waited for, not counted once */
                int zombies = 0;
                if (!WAIT_MS((zombies = count_zombies(h->broker_pid)) == 0, 2000))
                        show_children(h->broker_pid, true, 0);
                if (!clean || fds > base_fds + 1 || zombies != 0) {
                        bad++;
                        tap_diag("cycle %d (%s): links in pod-a %d (want 1), cgroups below pod-a %d (want 0), state "
                                 "files %d (want 0), broker fds %d (want at most %d + 1), zombies %d",
                                 cycle, kill_broker ? "broker killed" : "client killed", count_links("pod-a"),
                                 count_subcgroups(h, POD_A), count_files(STATE_DIR, ".json"), fds, base_fds,
                                 zombies);
                        harness_sh(NULL, "ip -n pod-a -o link show >&2; ls -la " STATE_DIR " /proc/%d/fd >&2",
                                   (int) h->broker_pid);
                        break;
                }
        }
        tap_ok(cycle >= 10, "%d cycles ran (%d with the broker killed by SIGKILL; %d processes it left were reaped "
               "here, as a service manager would)", cycle, kills, orphans);
        tap_is_int(bad, 0, "after every cycle: no TAP, cgroup, state file, broker fd or zombie left over");
        kill(pause, SIGKILL);
        waitpid(pause, NULL, 0);
}

static const scenario scenarios[] = {
        { "faults-replies", policy_faults, faults_replies },
        { "faults-cgroup-cap", policy_faults, faults_cgroup_cap },
        { "faults-state-files", policy_faults, faults_state_files },
        { "faults-zombies", policy_faults, faults_zombies },
        { "faults-pid-reuse", policy_faults, faults_pid_reuse },
        { "faults-chaos", policy_faults, faults_chaos },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
