// qamw/io/atomic_file.hpp — an output file that appears at its path complete or not at all.
//
// The constructor creates a new temporary file `PATH.tmp-<pid>-<random>` in the same directory as PATH (so that the
// final rename stays within one file system) with exclusive-create semantics; write() appends through a 1 MiB buffer;
// write_at() writes at a given offset instead (a gap before it reads as zeros until written; write() then still
// appends at the end, the largest offset written so far), for formats whose parts become ready out of file order.
// commit() flushes, fsyncs (POSIX), closes and renames the temporary file onto PATH, replacing any existing file
// atomically. Until commit() returns, PATH is untouched; destroying (or discard()-ing) an uncommitted atomic_file
// removes the temporary file. Existing readers that mapped the old PATH keep seeing the old bytes.
//
// Temporary-file hooks: a program that wants to remove live temporary files when a signal ends it (the library installs
// no signal handler, keeps no list and has no process-wide setting) passes io::temp_file_hooks to the atomic_file (or to
// the writer that owns one): `created(temp)` is called right after the temporary file is created (if it throws, the file
// is removed and the error propagates from the constructor), `finished(temp)` once the temporary name is gone (renamed
// onto PATH or removed). Both are empty by default.
//
// Every failure of the operating system (missing directory, permission, disk full, short write, failed rename) throws
// qamw::error(errc::io) naming PATH and carrying the system's reason; after a failed write() the object is poisoned:
// commit() throws and the destructor removes the temporary file. Misuse (write after commit) throws
// errc::invalid_argument.
#pragma once

#include <qamw/error.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <utility>

#ifdef _WIN32
#include <process.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

namespace qamw::io {

/// Observer of atomic_file's temporary files (see the file comment). Plain function pointers, empty by default.
struct temp_file_hooks {
    void (*created)(const std::string& temp_path) = nullptr;
    void (*finished)(const std::string& temp_path) noexcept = nullptr;
};

class atomic_file {
public:
    static constexpr std::size_t buffer_size = std::size_t{1} << 20;  ///< stdio buffer; large writes bypass it

    /// Creates the temporary file next to `path` and reports it to `hooks`. Throws errc::io (e.g. the directory does
    /// not exist).
    explicit atomic_file(std::string path, temp_file_hooks hooks = {})
        : path_(std::move(path)), buffer_(new char[buffer_size]) {
        for (int attempt = 0;; ++attempt) {
            temp_ = path_ + ".tmp-" + std::to_string(process_id()) + "-" + random_suffix();
            // "x": exclusive creation (C11), so a stale or foreign file of the same name is never clobbered.
            file_ = std::fopen(temp_.c_str(), "wbx");
            if (file_) break;
            int e = errno;
            if (e != EEXIST || attempt == 8)
                throw error(errc::io, "cannot create '" + temp_ + "' for '" + path_ + "': " + std::strerror(e));
        }
        hooks_ = hooks;
        if (hooks_.created) {
            try {
                hooks_.created(temp_);
            } catch (...) {
                std::fclose(std::exchange(file_, nullptr));
                std::remove(temp_.c_str());
                throw;
            }
        }
        if (std::setvbuf(file_, buffer_.get(), _IOFBF, buffer_size) != 0) {
            discard();
            throw error(errc::io, "cannot set up buffering for '" + path_ + "'");
        }
    }

    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;
    atomic_file(atomic_file&& o) noexcept
        : path_(std::move(o.path_)), temp_(std::move(o.temp_)), buffer_(std::move(o.buffer_)),
          file_(std::exchange(o.file_, nullptr)), written_(o.written_), position_(o.position_), failed_(o.failed_),
          committed_(o.committed_), hooks_(std::exchange(o.hooks_, {})) {}
    atomic_file& operator=(atomic_file&& o) noexcept {
        if (this != &o) {
            discard();
            path_ = std::move(o.path_);
            temp_ = std::move(o.temp_);
            buffer_ = std::move(o.buffer_);  // the FILE keeps using the same heap buffer
            file_ = std::exchange(o.file_, nullptr);
            written_ = o.written_;
            position_ = o.position_;
            failed_ = o.failed_;
            committed_ = o.committed_;
            hooks_ = std::exchange(o.hooks_, {});
        }
        return *this;
    }
    ~atomic_file() { discard(); }

    /// Appends n bytes at the end of the file. Throws errc::io naming the path on a short write (disk full, file size
    /// limit, ...).
    void write(const void* data, std::size_t n) { write_at(written_, data, n); }
    void write(const std::string& s) { write(s.data(), s.size()); }

    /// Writes n bytes at byte `offset` of the file, which may lie beyond its end (the gap reads as zeros until
    /// written). Throws errc::io naming the path when the seek or the write fails.
    void write_at(uint64_t offset, const void* data, std::size_t n) {
        if (!file_) throw error(errc::invalid_argument, "atomic_file '" + path_ + "': write after commit or discard");
        if (failed_) throw error(errc::io, "atomic_file '" + path_ + "': write after a failed write");
        if (n == 0) return;
        errno = 0;
        if (offset != position_ && !seek(offset)) {
            failed_ = true;
            io_fail("cannot seek in");
        }
        std::size_t done = std::fwrite(data, 1, n, file_);
        if (done != n) {
            failed_ = true;
            io_fail("cannot write");
        }
        position_ = offset + n;
        written_ = std::max(written_, position_);
    }

    /// Flushes, syncs and closes the temporary file, then renames it onto the path. Throws errc::io on any failure
    /// (the temporary file is then removed and the path left untouched).
    void commit() {
        if (!file_) throw error(errc::invalid_argument, "atomic_file '" + path_ + "': commit after commit or discard");
        if (failed_) {
            discard();
            throw error(errc::io, "atomic_file '" + path_ + "': commit after a failed write");
        }
        errno = 0;
        if (std::fflush(file_) != 0) io_fail_discard("cannot write");
#ifndef _WIN32
        if (::fsync(::fileno(file_)) != 0) io_fail_discard("cannot sync");
#endif
        std::FILE* f = std::exchange(file_, nullptr);
        if (std::fclose(f) != 0) {
            int e = errno;
            std::remove(temp_.c_str());
            finished();
            throw error(errc::io, "cannot close '" + temp_ + "' for '" + path_ + "': " + std::strerror(e));
        }
        std::error_code ec;
        std::filesystem::rename(temp_, path_, ec);
        if (ec) {
            std::remove(temp_.c_str());
            finished();
            throw error(errc::io, "cannot rename '" + temp_ + "' to '" + path_ + "': " + ec.message());
        }
        committed_ = true;
        finished();
        sync_directory();
    }

    /// Closes and removes the temporary file if not yet committed; afterwards the object is inert. Never throws.
    void discard() noexcept {
        if (file_) {
            std::fclose(file_);
            file_ = nullptr;
            if (!committed_) std::remove(temp_.c_str());
            finished();
        }
    }

    const std::string& path() const { return path_; }
    const std::string& temp_path() const { return temp_; }
    /// The file's size so far: the end of the furthest write.
    uint64_t bytes_written() const { return written_; }
    bool committed() const { return committed_; }

private:
    std::string path_;
    std::string temp_;
    std::unique_ptr<char[]> buffer_;
    std::FILE* file_ = nullptr;
    uint64_t written_ = 0;   ///< end of the furthest write
    uint64_t position_ = 0;  ///< the stream's position
    bool failed_ = false;
    bool committed_ = false;
    temp_file_hooks hooks_{};

    bool seek(uint64_t offset) {
#ifdef _WIN32
        using file_offset = __int64;
#else
        using file_offset = off_t;
#endif
        if (offset > static_cast<uint64_t>(std::numeric_limits<file_offset>::max())) {
            errno = EOVERFLOW;
            return false;
        }
#ifdef _WIN32
        return ::_fseeki64(file_, static_cast<file_offset>(offset), SEEK_SET) == 0;
#else
        return ::fseeko(file_, static_cast<file_offset>(offset), SEEK_SET) == 0;
#endif
    }

    void finished() noexcept {
        if (hooks_.finished) hooks_.finished(temp_);
        hooks_ = {};
    }

    [[noreturn]] void io_fail(const char* what) const {
        int e = errno;
        std::string reason = e ? std::strerror(e) : "short write";
        throw error(errc::io, std::string(what) + " '" + path_ + "' (temporary '" + temp_ + "'): " + reason);
    }
    [[noreturn]] void io_fail_discard(const char* what) {
        int e = errno;
        discard();
        errno = e;
        io_fail(what);
    }

    static long process_id() {
#ifdef _WIN32
        return static_cast<long>(::_getpid());
#else
        return static_cast<long>(::getpid());
#endif
    }

    static std::string random_suffix() {
        uint64_t r;
        try {
            std::random_device rd;
            r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
        } catch (...) {
            r = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        }
        static const char hex[] = "0123456789abcdef";
        std::string s(12, '0');
        for (auto& c : s) {
            c = hex[r & 15];
            r >>= 4;
        }
        return s;
    }

    // Makes the rename itself durable (best effort: some file systems refuse fsync on directories).
    void sync_directory() const noexcept {
#ifndef _WIN32
        try {
            std::string dir = std::filesystem::path(path_).parent_path().string();
            if (dir.empty()) dir = ".";
            int fd = ::open(dir.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                ::fsync(fd);
                ::close(fd);
            }
        } catch (...) {
        }
#endif
    }
};

}  // namespace qamw::io
