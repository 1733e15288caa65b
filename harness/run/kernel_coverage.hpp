// The guest kernel's own gcov data, case by case (`run --kernel-coverage DIR`).
//
// A kernel built with the coverage profile (ci/build-kernel.sh --profile
// coverage: CONFIG_GCOV_KERNEL, and kernels/config/gcov-sched-ext.patch
// instruments kernel/sched/build_policy.o, which includes ext.c and idle.c)
// counts every line of the sched_ext core it runs, in debugfs
// (Documentation/dev-tools/gcov.rst).  Before each case aqcheck zeroes the
// counters; after it, it copies every .gcda file into DIR/<case>/, under its
// path below the gcov directory.  That is the "gcov is run on the BUILD
// machine" set-up of gcov.rst: ci/kernel-coverage.sh puts each file next to
// its .gcno from the kernel's build directory and lets lcov read them.
#pragma once

#include <string>

namespace aq {

inline constexpr const char* kGcovDir = "/sys/kernel/debug/gcov";

// "" when this kernel keeps gcov data (mounting debugfs if it must), else
// why not, in one line.
std::string kernel_coverage_unavailable();

// Zeroes every counter (gcov's global reset file).  Throws on failure.
void reset_kernel_coverage();

// Copies every .gcda file below kGcovDir into @dir, keeping the path below
// kGcovDir.  Returns how many; throws on failure.
int save_kernel_coverage(const std::string& dir);

// What run, fuzz and selftests call, each printing its own one error line.
// Before a case: the kernel keeps gcov data (else exit_code::no_kernel_coverage)
// and its counters are zeroed.  After it: save_kernel_coverage(@dir/@name),
// said as "aqcheck: <who>: kernel coverage: ...".  Return an exit code,
// exit_code::pass when all went well.
int begin_kernel_coverage();
int end_kernel_coverage(const std::string& dir, const std::string& name, const std::string& who);

}  // namespace aq
