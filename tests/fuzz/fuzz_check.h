// SPDX-License-Identifier: LGPL-2.1-or-later
// What the fuzz targets share: a check that stops the fuzzer (a crash it
// reports with the input) when a property of the code under test fails.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

/// Aborts, naming the property and where, unless @p condition holds. Writes
/// to descriptor 2 itself: a target may point stderr elsewhere.
#define FUZZ_CHECK(condition)                                                                      \
	do {                                                                                       \
		if (!(condition)) {                                                                \
			dprintf(STDERR_FILENO, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__,         \
				__LINE__, #condition);                                             \
			std::abort();                                                              \
		}                                                                                  \
	} while (false)
