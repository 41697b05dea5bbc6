// tools/common/scratch_file.hpp — a tool's temporary read-write file for intermediate data too large to keep in
// memory (e.g. the hidden states of every calibration window between two layers of `qamw stats`).
//
// The file is created next to a given path (`PREFIX` + six random characters, mkstemp: exclusive, mode 0600), so that
// it lies on the output's file system; it is registered with tools/common/temp_registry.hpp as soon as it exists, so a
// SIGINT/SIGTERM/SIGHUP removes it, and the destructor removes it (success, error or exception alike). Reads and writes
// are positional (pread/pwrite), so threads may use disjoint ranges of one file at once. Every failure (the directory
// is missing or unwritable, disk full, file size limit, a read past the end because the file was truncated) throws
// qamw::error(errc::io) naming the file and the system's reason. POSIX only, as the registry.
#pragma once

#include "common/temp_registry.hpp"

#include <qamw/error.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <stdlib.h>
#include <unistd.h>

namespace qamw::tools {

class scratch_file {
public:
    /// Creates `prefix` + "XXXXXX" (the X replaced by random characters), e.g. prefix "out.st.tmp-hidden-".
    explicit scratch_file(const std::string& prefix) {
        std::vector<char> name(prefix.begin(), prefix.end());
        for (int i = 0; i < 6; ++i) name.push_back('X');
        name.push_back('\0');
        fd_ = ::mkstemp(name.data());
        if (fd_ < 0)
            throw error(errc::io, "cannot create the scratch file '" + prefix + "XXXXXX': " + std::strerror(errno));
        path_ = name.data();
        try {
            temp_registry::register_path(path_, temp_registry::kind::file);
        } catch (...) {
            close_and_remove();
            throw;
        }
    }
    scratch_file(const scratch_file&) = delete;
    scratch_file& operator=(const scratch_file&) = delete;
    ~scratch_file() {
        close_and_remove();
        temp_registry::unregister_path(path_);
    }

    const std::string& path() const { return path_; }

    /// Writes n bytes at `offset` (the file grows as needed). Thread-safe for disjoint ranges.
    void write_at(uint64_t offset, const void* data, std::size_t n) const {
        const char* p = static_cast<const char*>(data);
        while (n > 0) {
            const ssize_t done = ::pwrite(fd_, p, n, off_t(offset));
            if (done < 0 && errno == EINTR) continue;
            if (done <= 0) fail("cannot write", offset, done < 0 ? std::strerror(errno) : "no progress");
            p += done, offset += uint64_t(done), n -= std::size_t(done);
        }
    }

    /// Reads n bytes at `offset`, all of which must have been written. Thread-safe.
    void read_at(uint64_t offset, void* data, std::size_t n) const {
        char* p = static_cast<char*>(data);
        while (n > 0) {
            const ssize_t done = ::pread(fd_, p, n, off_t(offset));
            if (done < 0 && errno == EINTR) continue;
            if (done <= 0)
                fail("cannot read", offset,
                     done < 0 ? std::strerror(errno) : "the file ends before it (was it truncated?)");
            p += done, offset += uint64_t(done), n -= std::size_t(done);
        }
    }

private:
    std::string path_;
    int fd_ = -1;

    void close_and_remove() noexcept {
        if (fd_ < 0) return;
        ::close(std::exchange(fd_, -1));
        ::unlink(path_.c_str());
    }

    [[noreturn]] void fail(const char* what, uint64_t offset, const char* reason) const {
        throw error(errc::io, std::string(what) + " the scratch file '" + path_ + "' at byte " +
                                  std::to_string(offset) + ": " + reason);
    }
};

}  // namespace qamw::tools
