/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegatectl - operator and debug client of delegate-broker.
 * See delegatectl(1).
 *
 * Every command is one row of the verb table below: its words, synopsis,
 * help and handler.  The table drives the dispatch and --help; the
 * commands themselves live in delegatectl-ops.c (broker socket),
 * delegatectl-kvmi.c, delegatectl-policy.c (offline) and
 * delegatectl-bus.c (D-Bus).
 */
#include <getopt.h>
#include <stdio.h>

#include "config.h"
#include "delegatectl-bus.h"
#include "delegatectl-kvmi.h"
#include "delegatectl-ops.h"
#include "delegatectl-policy.h"
#include "delegatectl-util.h"
#include "wire.h"

typedef struct verb {
        const char *name;     /* one word, or two ("tap create") */
        const char *synopsis; /* its arguments; '\n' continues on the next line, indented as written */
        const char *help;     /* '\n' continues on the next line */
        bool bus;             /* a D-Bus command (listed apart in --help) */
        int n_args;           /* arguments after the name; -1: the handler parses them */
        /* the command's words from the last of its name on; returns the exit status */
        int (*run)(int argc, char **argv);
} verb;

static const verb verbs[] = {
        { "ping", "", "check the broker answers", false, 0, cmd_ping },
        { "state", "", "what the broker did for this session", false, 0, cmd_state },
        { "memlock", "--pid P --soft N [--hard N]", "set RLIMIT_MEMLOCK of P (sizes: 64M, 2G, unlimited)", false,
          -1, cmd_memlock },
        { "tap create",
          "--name N|TEMPLATE [--queues Q] [--vnet-hdr] [--mtu M] [--mac MAC]\n"
          "             [--bridge BR] [--persist] [--vhost] [--exec CMD]",
          "create a TAP device in this netns; with --exec run\n"
          "CMD with its fds (3, 4, ...) until it exits",
          false, -1, cmd_tap_create },
        { "tap destroy", "NAME", "remove a TAP device this session created", false, -1, cmd_tap_destroy },
        { "cgroup-move", "--target T (--tid ID... | --pid P) [--create] [--cpus LIST]",
          "move threads or a process to a cgroup below ours", false, -1, cmd_cgroup_move },
        { "sched", "--tid ID --policy P [--priority N] [--nice N] [--cpus LIST]",
          "set a thread's scheduling (fifo, rr, other, ...)", false, -1, cmd_sched },
        { "kvmi run", "[--unkeyed] [--] PROG [ARG...]",
          "attach KVMI, run PROG with a socket to connect to in\n"
          "$DELEGATE_KVMI_SOCKET, hand its connections over,\n"
          "then read set/file/state/detach lines from stdin",
          false, -1, cmd_kvmi },
        { "policy check", "DIR", "validate a policy directory", false, -1, cmd_policy_check },
        { "policy explain", "--policy-dir D --uid U [--gid G] --cgroup C [--vm V] OP [ARGS-JSON]",
          "which rule decides OP, and why (offline)", false, -1, cmd_policy_explain },
        { "status", "", "API version, policy generation, sessions", true, 0, cmd_bus },
        { "sessions", "", "list the sessions", true, 0, cmd_bus },
        { "session", "ID", "one session's state", true, 1, cmd_bus },
        { "explain", "--uid U [--gid G] --cgroup C [--vm V] [--via socket|dbus|seccomp] OP [ARGS-JSON]",
          "which rule decides OP, asked of the broker", true, -1, cmd_bus_explain },
        { "reload", "", "reload the broker's policy", true, 0, cmd_bus },
        { "revoke", "ID", "undo a session's delegations and close it", true, 1, cmd_bus },
};

#define HELP_COLUMN 40

/* One line of text after @col columns were printed: pad to HELP_COLUMN, or go to the next line. */
static void help_text(int col, const char *text) {
        for (const char *s = text; *s;) {
                size_t len = strcspn(s, "\n");
                if (col >= HELP_COLUMN - 1) {
                        putchar('\n');
                        col = 0;
                }
                printf("%*s%.*s\n", HELP_COLUMN - col, "", (int) len, s);
                col = 0;
                s += len + (s[len] == '\n');
        }
}

static void help_verbs(bool bus) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const verb *v = &verbs[i];
                if (v->bus != bus)
                        continue;
                int col = printf("  %s%s%s", v->name, *v->synopsis ? " " : "", v->synopsis);
                const char *last = strrchr(v->synopsis, '\n');
                if (last)
                        col = (int) strlen(last + 1);
                help_text(col, v->help);
        }
}

static void help(void) {
        printf("Usage: delegatectl [OPTIONS] COMMAND ...\n\nCommands:\n");
        help_verbs(false);
        printf("\nOver D-Bus (org.delegate.Broker1, see --bus):\n");
        help_verbs(true);
        printf("\n"
               "Options:\n"
               "  -s, --socket PATH   broker socket (default: $%s or %s)\n"
               "      --vm NAME       VM name sent in the hello\n"
               "  -b, --bus BUS       system (default), session, or a D-Bus address\n"
               "      --json          machine-readable output\n"
               "  -h, --help          show this help\n"
               "      --version       show the version\n",
               DELEGATE_SOCKET_ENV, DEFAULT_SOCKET_PATH);
}

/* The row whose words begin @argv (@argc of them), with *ret_words its number of words; NULL: none. */
static const verb *verb_find(int argc, char **argv, int *ret_words) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const char *name = verbs[i].name, *space = strchr(name, ' ');
                size_t first = space ? (size_t) (space - name) : strlen(name);
                if (strlen(argv[0]) != first || strncmp(argv[0], name, first) != 0)
                        continue;
                if (!space) {
                        *ret_words = 1;
                        return &verbs[i];
                }
                if (argc >= 2 && streq(argv[1], space + 1)) {
                        *ret_words = 2;
                        return &verbs[i];
                }
        }
        return NULL;
}

int main(int argc, char **argv) {
        enum { ARG_JSON = 0x100, ARG_VERSION, ARG_VM };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "vm", required_argument, NULL, ARG_VM },
                { "bus", required_argument, NULL, 'b' },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "+s:b:h", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        arg_socket = optarg;
                        break;
                case ARG_VM:
                        arg_vm = optarg;
                        break;
                case 'b':
                        arg_bus = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("delegatectl %s (API %d)\n", DELEGATE_VERSION, DELEGATE_API_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'delegatectl --help'.\n");
                        return 2;
                }
        }
        if (optind >= argc)
                return usage_error("no command given");
        int words;
        const verb *v = verb_find(argc - optind, argv + optind, &words);
        if (!v)
                return usage_error("unknown command '%s' (or wrong arguments)", argv[optind]);
        /* the handler sees the command's words from the last of its name on */
        int sub_argc = argc - optind - (words - 1);
        char **sub_argv = argv + optind + (words - 1);
        if (v->n_args >= 0 && sub_argc - 1 != v->n_args)
                return usage_error("usage: delegatectl %s%s%s", v->name, *v->synopsis ? " " : "", v->synopsis);
        return v->run(sub_argc, sub_argv);
}
