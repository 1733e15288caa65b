// Small text helpers every layer uses: shell quoting for the rerun commands
// aqcheck prints, console line splitting, and kernel release names.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace aq {

std::string_view trim(std::string_view s);
// Splits on '\n' and drops the '\r' a serial line discipline adds.
std::vector<std::string_view> lines_of(std::string_view text);
inline bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

// One word for /bin/sh: as is when it is safe, else in single quotes.
std::string shell_quote(std::string_view s);
std::string shell_join(const std::vector<std::string>& argv);

// Text for an XML attribute or element (JUnit reports): the five entities,
// and control characters but tab and newline as spaces.
std::string xml_escape(std::string_view s);

// Where a report's HTML page goes (report/html.hpp): "F.md" or "F.json" ->
// "F.html"; any other name gets ".html" added.
std::string html_path_beside(std::string_view report_path);

// "7.2.13+deb14-cloud-amd64" -> "7.2": what `aqcheck vm --kernel` takes.
std::string kernel_series(std::string_view release);
// What a rerun command passes to `aqcheck vm --kernel`: the host's kernel
// image when `aqcheck vm` booted one given as a path (AQCHECK_HOST_KERNEL,
// set by the guest's /init), else the series of the running release.
std::string rerun_kernel(std::string_view release);

}  // namespace aq
