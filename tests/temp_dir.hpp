// tests/temp_dir.hpp — a fresh directory for one test, removed with its contents at the end of the test.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace qamw::test {

/// A new directory under the system's temporary directory, unique per process and object (tests run as parallel
/// processes: ctest -j, and scripts/arm.sh's side-by-side runs), removed with everything in it on destruction.
struct temp_dir {
    std::filesystem::path path;
    explicit temp_dir(const std::string& tag = "qamw_test") {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    /// The path of `name` inside the directory.
    std::string operator/(const std::string& name) const { return (path / name).string(); }
    /// The names of the directory's entries.
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
        return out;
    }
};

}  // namespace qamw::test
