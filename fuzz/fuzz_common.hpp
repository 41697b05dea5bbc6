// fuzz/fuzz_common.hpp — helpers shared by the libFuzzer harnesses: a per-process scratch file for parsers that only
// take a path, and a failure macro for broken invariants.
//
// Contract of every harness: a qamw::error is the expected outcome for bad input and is swallowed; anything else —
// another exception, a crash, a sanitizer report, a leak, a timeout, or an invariant checked with QAMW_FUZZ_CHECK — is
// a bug that libFuzzer reports with the input that caused it.
#pragma once

#include <qamw/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <signal.h>
#include <unistd.h>

/// Aborts (libFuzzer saves the input as a crash) when an invariant the library promises does not hold.
#define QAMW_FUZZ_CHECK(cond)                                                                        \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond);     \
            std::abort();                                                                            \
        }                                                                                            \
    } while (0)

namespace qamw_fuzz {

/// A scratch directory private to this process (fork mode and parallel jobs each get their own), removed at exit:
/// $QAMW_FUZZ_TMPDIR, else /dev/shm, else the system's temporary directory.
inline const std::filesystem::path& scratch_dir() {
    static const std::filesystem::path dir = [] {
        namespace fs = std::filesystem;
        // tmpfs when there is one: rewriting a file on a disk file system (ext4 with discard) costs milliseconds per
        // input, 10–100× the parse itself.
        std::error_code ec;
        fs::path base = std::getenv("QAMW_FUZZ_TMPDIR") ? fs::path(std::getenv("QAMW_FUZZ_TMPDIR"))
                        : fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0 ? fs::path("/dev/shm")
                                                                                             : fs::temp_directory_path();
        // libFuzzer often leaves with _Exit, skipping atexit: remove what earlier processes that are gone left behind.
        for (const auto& e : fs::directory_iterator(base, ec)) {
            const std::string n = e.path().filename().string();
            if (n.rfind("qamw-fuzz-", 0) != 0) continue;
            const long pid = std::strtol(n.c_str() + 10, nullptr, 10);
            if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
        }
        fs::path d = base / ("qamw-fuzz-" + std::to_string(::getpid()));
        fs::create_directories(d);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(scratch_dir(), ec);
        });
        return d;
    }();
    return dir;
}

/// Writes `size` bytes to scratch_dir()/name (replacing it) and returns the path.
inline std::string write_scratch(const std::string& name, const std::uint8_t* data, std::size_t size) {
    std::string path = (scratch_dir() / name).string();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) {
        std::perror(path.c_str());
        std::abort();  // the harness's environment is broken, not the library
    }
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path;
}

/// Reads a little-endian unsigned integer of n ≤ 8 bytes from [p, end), advancing p; missing bytes read as zero.
inline std::uint64_t take_le(const std::uint8_t*& p, const std::uint8_t* end, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n && p < end; ++i, ++p) v |= std::uint64_t{*p} << (8 * i);
    return v;
}

/// A cheap checksum that touches every byte (so ASan sees every access and the optimizer cannot drop the reads).
inline std::uint64_t touch(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/// Keeps a value alive against dead-code elimination.
template <class T>
inline void keep(const T& v) {
    asm volatile("" : : "g"(&v) : "memory");
}

}  // namespace qamw_fuzz
