/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-util.h - timing and reporting shared by the bench/ programs.
 *
 * Every latency row is printed as a markdown table row
 *   | what | path | n | median us | p99 us |
 * which bench/run collects into RESULTS.md and into the plot's data.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t bench_now_ns(void);
/* Sort @t (@n samples in ns) and print one row; @t is reordered. */
void bench_report(const char *what, const char *path, uint64_t *t, size_t n);
/* Median and p99 of @t in ns (sorts @t). */
void bench_stats(uint64_t *t, size_t n, uint64_t *ret_median, uint64_t *ret_p99);
/* VmRSS of @pid in KiB, -1 when it cannot be read. */
long bench_rss_kib(int pid);
/* Pin the calling thread to @cpu (-1: every CPU); returns 0 or -errno. */
int bench_pin(int cpu);
/* Wait (up to 2 s, untimed) until no interface of this netns has a name starting with @prefix: a TAP device
 * goes with the last close of its queue, which may be the broker's, closed by its closer thread after the
 * client's own; each creation is then timed with the ones before gone, as when the client's close was the
 * last and waited for it */
void bench_taps_gone(const char *prefix);
/* Print "what: msg" on stderr and exit 1. */
void bench_die(const char *what, const char *msg) __attribute__((noreturn));
/* BENCH_OPS ("echo ping memlock.set ..."): whether @op's rows are wanted; unset: every row */
bool bench_wanted(const char *op);
