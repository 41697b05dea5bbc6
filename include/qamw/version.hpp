// qamw/version.hpp — library version, and the container format version it reads and writes (docs/FORMAT.md).
#pragma once

#define QAMW_VERSION_MAJOR 0
#define QAMW_VERSION_MINOR 1
#define QAMW_VERSION_PATCH 0

namespace qamw {
constexpr const char* version_string = "0.1.0";
constexpr int format_version = 3;      ///< written (2: per-tensor payload checksums; 3: d8 codebooks)
constexpr int min_format_version = 1;  ///< the oldest version still read
}  // namespace qamw
