// tools/common/parallel.hpp — the tools' threads (the library starts none): split a loop over [0, n) into contiguous chunks run on `threads` threads.
//
// The split depends only on n and the thread count, and each index is processed by exactly one call, so work whose
// items are independent (rows of a matrix) gives the same bytes for every thread count. Exceptions thrown by a chunk
// are rethrown on the calling thread (the first one, by chunk order).
//
// Chunks run on a process-wide pool of worker threads that is started on first use and kept, so a product called
// every token pays no thread start-up. The caller runs chunk 0 itself and helps with the others. A call made while
// the pool serves another caller, or from inside a chunk (nested), runs its chunks one after the other on the calling
// thread: same split, same results, never a deadlock.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qamw {

/// Resolves a user's thread count: 0 means "all hardware threads".
inline int resolve_threads(int threads) {
    if (threads > 0) return threads;
    unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(hw);
}

namespace detail {

/// Worker threads kept between parallel_for calls. One run at a time; never destroyed (no join at exit, no use
/// after destruction from other static destructors).
class thread_pool {
public:
    static thread_pool& instance() {
        static thread_pool* pool = new thread_pool;
        return *pool;
    }

    /// Runs task(i) for every i in [0, n), task(0) on the calling thread. Returns false, having run nothing, when
    /// the pool is serving another run or the caller is itself inside a run.
    bool try_run(std::size_t n, const std::function<void(std::size_t)>& task) {
        bool expected = false;
        if (inside() || !busy_.compare_exchange_strong(expected, true)) return false;
        {
            std::unique_lock<std::mutex> l(m_);
            idle_.wait(l, [&] { return active_ == 0; });  // workers still leaving the previous run
            while (workers_.size() + 1 < n) workers_.emplace_back([this] { work(); });
            task_ = &task, n_ = n, done_ = 0, ++generation_;
            next_.store(1);
        }
        wake_.notify_all();
        inside() = true;
        task(0);
        claim(&task, n);
        inside() = false;
        {
            std::unique_lock<std::mutex> l(m_);
            idle_.wait(l, [&] { return done_ == n - 1; });
        }
        busy_.store(false);
        return true;
    }

private:
    static bool& inside() {
        thread_local bool flag = false;
        return flag;
    }

    /// Runs the indices this thread claims until none are left (task is only dereferenced for a claimed index).
    void claim(const std::function<void(std::size_t)>* task, std::size_t n) {
        for (std::size_t i; (i = next_.fetch_add(1)) < n;) {
            (*task)(i);
            std::lock_guard<std::mutex> l(m_);
            if (++done_ == n - 1) idle_.notify_all();
        }
    }

    void work() {
        inside() = true;
        std::uint64_t seen = 0;
        for (;;) {
            const std::function<void(std::size_t)>* task;
            std::size_t n;
            {
                std::unique_lock<std::mutex> l(m_);
                wake_.wait(l, [&] { return generation_ != seen; });
                seen = generation_, task = task_, n = n_;
                ++active_;
            }
            claim(task, n);  // a worker that wakes after its run ended finds every index claimed
            std::lock_guard<std::mutex> l(m_);
            if (--active_ == 0) idle_.notify_all();
        }
    }

    std::atomic<bool> busy_{false};
    std::mutex m_;
    std::condition_variable wake_, idle_;
    std::vector<std::thread> workers_;
    const std::function<void(std::size_t)>* task_ = nullptr;
    std::size_t n_ = 0, done_ = 0, active_ = 0;
    std::uint64_t generation_ = 0;
    std::atomic<std::size_t> next_{0};
};

}  // namespace detail

/// Calls f(begin, end) on disjoint chunks covering [0, n); at most `threads` chunks, each at least `grain` long.
template <class F>
void parallel_for(std::size_t n, int threads, F&& f, std::size_t grain = 1) {
    if (n == 0) return;
    std::size_t t = static_cast<std::size_t>(resolve_threads(threads));
    t = std::max<std::size_t>(1, std::min(t, (n + grain - 1) / std::max<std::size_t>(grain, 1)));
    if (t == 1) {
        f(std::size_t{0}, n);
        return;
    }
    std::vector<std::exception_ptr> errors(t);
    const std::function<void(std::size_t)> chunk = [&](std::size_t i) {
        try {
            f(n * i / t, n * (i + 1) / t);
        } catch (...) {
            errors[i] = std::current_exception();
        }
    };
    if (!detail::thread_pool::instance().try_run(t, chunk))
        for (std::size_t i = 0; i < t; ++i) chunk(i);
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

/// The executor (qamw/executor.hpp) the tools hand to the library: parallel_for on `threads` workers (0 = all cores).
struct on_threads {
    int threads = 0;
    std::size_t grain = 1;
    template <class F>
    void operator()(std::size_t n, F&& f) const {
        parallel_for(n, threads, std::forward<F>(f), grain);
    }
};

}  // namespace qamw
