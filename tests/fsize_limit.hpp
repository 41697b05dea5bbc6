// tests/fsize_limit.hpp — a file size limit for one scope (POSIX), so that a test can make writes fail as on a full
// disk: lowers RLIMIT_FSIZE and ignores SIGXFSZ (a write beyond the limit then fails with EFBIG, "File too large"),
// restoring both on destruction, even when an assertion throws.
#pragma once

#include <catch2/catch.hpp>

#include <csignal>

#include <sys/resource.h>

namespace qamw::test {

struct fsize_limit {
    struct rlimit old {};
    void (*old_handler)(int) = SIG_DFL;
    explicit fsize_limit(rlim_t bytes) {
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
        old_handler = std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = old;
        lim.rlim_cur = bytes;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
    }
    ~fsize_limit() {
        ::setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, old_handler);
    }
    fsize_limit(const fsize_limit&) = delete;
    fsize_limit& operator=(const fsize_limit&) = delete;
};

}  // namespace qamw::test
