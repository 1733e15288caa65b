// fmt's out-of-line code, compiled once for every aqcheck target
// (harness/CMakeLists.txt, aq_fmt).  Debian's libfmt-dev ships libfmt.so
// only, and aqcheck links statically; fmt's header-only mode instead
// compiles format-inl.h into every translation unit, which cost the build of
// `aqcheck` ~15% of its CPU time (docs/ci.md "The time budget").
#include <fmt/format-inl.h>

namespace fmt::detail {
// format.h declares these two `extern template` when not header-only.
template auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template auto decimal_point_impl<char>(locale_ref) -> char;
}  // namespace fmt::detail
