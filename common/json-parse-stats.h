/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-parse-stats.h - what json-parse.c counts for tests/unit/test-json.c
 * and tests/fuzz/fuzz-wire.c: which parser read a message.
 */
#pragma once

/* The texts this thread handed to yajl's parser (json-parse.c, one per
 * yajl_parse() of a text): a message json-parse.c's own reader took adds
 * none.  Per thread, so that a test reads its own parses' count. */
extern _Thread_local unsigned long json_parse_yajl_runs;
