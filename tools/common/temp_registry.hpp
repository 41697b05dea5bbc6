// tools/common/temp_registry.hpp — removes the tools' live temporary files and directories when SIGINT, SIGTERM or
// SIGHUP ends the process, so that an interrupted `qamw quantize` leaves no `OUT.tmp-…` behind.
//
// Mechanism: a fixed-size table of C strings (no allocation, no locks in the handler). register_path() copies a path
// into a free slot and then marks it live; the handler walks the live slots, unlink()s files and, for directories,
// unlinks the files inside (one level, Linux getdents64) and rmdir()s them, then restores the default action and
// re-raises the signal, so the exit status still says which signal ended the process (128 + N in a shell).
// Only async-signal-safe calls run in the handler (open, syscall(getdents64), unlinkat, rmdir, close, sigaction,
// raise). The tools hand file_hooks() to every writer they create (io::atomic_file reports its temporary files
// through them); the library itself installs no handler and has no process-wide hooks.
//
// Limits: 64 live paths of at most 4095 bytes (a longer path or a full table is an error at registration, before the
// file is written); a signal that arrives between the creation of a temporary file and its registration (a few
// instructions) can still leave it behind.
#pragma once

#include <qamw/error.hpp>
#include <qamw/io/atomic_file.hpp>

#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>
#include <string>

#include <fcntl.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

namespace qamw::tools::temp_registry {

enum class kind : int { file = 1, directory = 2 };

namespace detail {
constexpr int slots = 64;
constexpr std::size_t max_path = 4096;
struct slot {
    std::atomic<int> state{0};  ///< 0 free, -1 being written, kind when live
    char path[max_path];
};
inline slot* table() {
    static slot t[slots];
    return t;
}
inline std::mutex& lock() {
    static std::mutex m;
    return m;
}

inline void empty_directory(const char* dir) noexcept {
#ifdef __linux__
    int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    alignas(8) char buf[8192];
    for (;;) {
        long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            // struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
            unsigned short reclen;
            std::memcpy(&reclen, buf + off + 16, sizeof reclen);
            const char* name = buf + off + 19;
            if (!(name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))) ::unlinkat(fd, name, 0);
            off += reclen;
        }
    }
    ::close(fd);
#else
    (void)dir;
#endif
}

inline void remove_all_live() noexcept {
    slot* t = table();
    for (int pass = 0; pass < 2; ++pass)  // files first, then directories
        for (int i = 0; i < slots; ++i) {
            int s = t[i].state.load();
            if (pass == 0 && s == static_cast<int>(kind::file)) ::unlink(t[i].path);
            if (pass == 1 && s == static_cast<int>(kind::directory)) {
                empty_directory(t[i].path);
                ::rmdir(t[i].path);
            }
        }
}

inline void on_signal(int sig) {
    remove_all_live();
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(sig, &dfl, nullptr);
    ::raise(sig);
}
}  // namespace detail

/// Registers a live temporary path; returns its slot. Throws errc::io when the table is full or the path too long.
inline int register_path(const std::string& path, kind k) {
    if (path.size() >= detail::max_path)
        throw error(errc::io, "temporary path too long to clean up on a signal: '" + path + "'");
    std::lock_guard<std::mutex> g(detail::lock());
    detail::slot* t = detail::table();
    for (int i = 0; i < detail::slots; ++i) {
        int expected = 0;
        if (t[i].state.compare_exchange_strong(expected, -1)) {
            std::memcpy(t[i].path, path.c_str(), path.size() + 1);
            t[i].state.store(static_cast<int>(k));
            return i;
        }
    }
    throw error(errc::io, "more than 64 live temporary files; cannot track '" + path + "'");
}

/// Forgets `path` (it was renamed into place or removed). Unknown paths are ignored.
inline void unregister_path(const std::string& path) noexcept {
    std::lock_guard<std::mutex> g(detail::lock());
    detail::slot* t = detail::table();
    for (int i = 0; i < detail::slots; ++i)
        if (t[i].state.load() > 0 && path == t[i].path) {
            t[i].state.store(0);
            return;
        }
}

/// Number of live registrations (tests).
inline int live() noexcept {
    int n = 0;
    for (int i = 0; i < detail::slots; ++i) n += detail::table()[i].state.load() > 0;
    return n;
}

/// Hooks that register an io::atomic_file's temporary file here for as long as it exists: pass them to every writer.
inline io::temp_file_hooks file_hooks() {
    io::temp_file_hooks h;
    h.created = [](const std::string& p) { register_path(p, kind::file); };
    h.finished = [](const std::string& p) noexcept { unregister_path(p); };
    return h;
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP (registered paths are removed when one ends the process).
inline void install() {
    struct sigaction sa {};
    sa.sa_handler = detail::on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sa.sa_flags = SA_RESETHAND;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

/// Registers a path for the lifetime of the object.
class scoped {
public:
    scoped(std::string path, kind k) : path_(std::move(path)) { register_path(path_, k); }
    scoped(const scoped&) = delete;
    scoped& operator=(const scoped&) = delete;
    ~scoped() { unregister_path(path_); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace qamw::tools::temp_registry
