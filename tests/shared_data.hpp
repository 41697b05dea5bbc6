// tests/shared_data.hpp — tests that read ../shared/ (models, token files) and what they do when it is absent.
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>

namespace qamw::test {

/// The ../shared directory the build points at.
inline const std::string shared_dir = QAMW_SHARED_DIR;

/// Ends the test's process with exit code 4, which CTest reports as *skipped* (tests/CMakeLists.txt:
/// SKIP_RETURN_CODE 4; Catch2 2.13 has no SKIP), when a file under ../shared is missing: a test that cannot run must
/// not pass. (Run outside CTest, the first such test ends the whole run with code 4.)
inline void require_shared(std::initializer_list<const char*> rel) {
    for (const char* r : rel)
        if (!std::filesystem::exists(shared_dir + "/" + r)) {
            std::printf("skipped: %s/%s is missing\n", shared_dir.c_str(), r);
            std::fflush(stdout);
            std::_Exit(4);
        }
}

}  // namespace qamw::test
