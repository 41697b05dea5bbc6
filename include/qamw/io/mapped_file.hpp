// qamw/io/mapped_file.hpp — a read-only memory map of a whole file (RAII, movable, not copyable).
//
// POSIX: open(O_RDONLY) + fstat + mmap(PROT_READ, MAP_PRIVATE); the descriptor is closed right after mapping and the
// mapping is released by the destructor. An empty file maps to data() == nullptr, size() == 0. Windows (_WIN32): the
// file is read into a heap buffer instead (same interface).
//
// The bytes are only as stable as the file: if another process truncates the file while it is mapped, touching the
// vanished pages raises SIGBUS. Writers in qamw never modify a file in place (see atomic_file.hpp: they rename a new
// file over the old one), which leaves existing maps intact.
#pragma once

#include <qamw/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#ifdef _WIN32
#include <cstdio>
#include <vector>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace qamw::io {

class mapped_file {
public:
    mapped_file() = default;

    /// Maps `path` read-only. Throws errc::io naming the path if it cannot be opened, is not a regular file, or
    /// cannot be mapped (the message carries the operating system's reason).
    explicit mapped_file(std::string path) : path_(std::move(path)) {
#ifdef _WIN32
        std::FILE* f = std::fopen(path_.c_str(), "rb");
        if (!f) fail("cannot open");
        std::vector<uint8_t> buf;
        uint8_t chunk[1 << 16];
        std::size_t n;
        while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + n);
        bool bad = std::ferror(f) != 0;
        std::fclose(f);
        if (bad) fail("cannot read");
        buffer_ = std::move(buf);
        data_ = buffer_.data();
        size_ = buffer_.size();
#else
        int fd;
        do {
            fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) fail("cannot open");
        struct stat st;
        if (::fstat(fd, &st) != 0) {
            int e = errno;
            ::close(fd);
            errno = e;
            fail("cannot stat");
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            throw error(errc::io, "'" + path_ + "' is not a regular file");
        }
        if (static_cast<uint64_t>(st.st_size) > static_cast<uint64_t>(SIZE_MAX)) {
            ::close(fd);
            throw error(errc::io, "'" + path_ + "' is too large to map on this platform");
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                int e = errno;
                ::close(fd);
                errno = e;
                size_ = 0;
                fail("cannot map");
            }
            data_ = static_cast<const uint8_t*>(p);
        }
        ::close(fd);
#endif
    }

    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    mapped_file(mapped_file&& o) noexcept { swap(o); }
    mapped_file& operator=(mapped_file&& o) noexcept {
        if (this != &o) {
            mapped_file tmp(std::move(o));
            swap(tmp);
        }
        return *this;
    }
    ~mapped_file() { release(); }

    /// The file's bytes (nullptr for an empty file or a moved-from object). Valid while this object lives; moving the
    /// object keeps the address.
    const uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::string& path() const { return path_; }

    /// Hints that the whole file will be read front to back (no-op where unsupported).
    void advise_sequential() const {
#if !defined(_WIN32) && defined(POSIX_MADV_SEQUENTIAL)
        if (data_ && size_) ::posix_madvise(const_cast<uint8_t*>(data_), size_, POSIX_MADV_SEQUENTIAL);
#endif
    }

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
#ifdef _WIN32
    std::vector<uint8_t> buffer_;
#endif

    [[noreturn]] void fail(const char* what) const {
        int e = errno;
        throw error(errc::io, std::string(what) + " '" + path_ + "': " + std::strerror(e));
    }
    void swap(mapped_file& o) noexcept {
        std::swap(path_, o.path_);
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
#ifdef _WIN32
        std::swap(buffer_, o.buffer_);
#endif
    }
    void release() noexcept {
#ifndef _WIN32
        if (data_ && size_) ::munmap(const_cast<uint8_t*>(data_), size_);
#endif
        data_ = nullptr;
        size_ = 0;
    }
};

}  // namespace qamw::io
