// tools/common/parallel.hpp — the tools' threads (the library starts none): split a loop over [0, n) into contiguous chunks run on `threads` threads.
//
// The split depends only on n and the thread count, and each index is processed by exactly one call, so work whose
// items are independent (rows of a matrix) gives the same bytes for every thread count. Exceptions thrown by a chunk
// are rethrown on the calling thread (the first one, by chunk order).
//
// Chunks run on a process-wide pool of worker threads that is started on first use and kept, so a product called
// every token pays no thread start-up; chunk i goes first to the same thread in every call, and idle threads spin
// briefly before sleeping (detail::thread_pool). The caller runs chunk 0 itself and helps with the others. A call made while
// the pool serves another caller, or from inside a chunk (nested), runs its chunks one after the other on the calling
// thread: same split, same results, never a deadlock.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
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

/// One pause of a spin loop (a hint to the core; no system call).
inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

/// Spins until ready() or `budget` has passed; returns ready(). Lets a thread that expects an event within
/// microseconds (the next product of a token, the last chunk of this one) see it without a futex sleep and wake-up.
template <class Ready>
bool spin_until(Ready&& ready, std::chrono::microseconds budget) {
    const auto end = std::chrono::steady_clock::now() + budget;
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (ready()) return true;
            spin_pause();
        }
        if (std::chrono::steady_clock::now() >= end) return ready();
    }
}

/// Worker threads kept between parallel_for calls. One run at a time; never destroyed (no join at exit, no use
/// after destruction from other static destructors).
///
/// Chunk i of a run goes first to "its" thread (the caller takes chunk 0, worker w chunk w + 1), so a product run
/// again with the same split finds each thread's rows still in that core's cache; a thread that finishes early then
/// takes any chunk still unclaimed. Threads spin for up to spin_budget before sleeping, both waiting for the next
/// run and, in the caller, for the last chunks: back-to-back products (every token of a model) then pay no futex
/// wake-up (tens of microseconds per call in a virtual machine, against a 16-thread GEMV of a few hundred).
class thread_pool {
public:
    static constexpr std::chrono::microseconds spin_budget{200};

    static thread_pool& instance() {
        static thread_pool* pool = new thread_pool;
        return *pool;
    }
    /// Runs task(i) for every i in [0, n), task(0) on the calling thread. Returns false, having run nothing, when
    /// the pool is serving another run or the caller is itself inside a run.
    bool try_run(std::size_t n, const std::function<void(std::size_t)>& task) {
        bool expected = false;
        if (inside() || !busy_.compare_exchange_strong(expected, true)) return false;
        // Workers still leaving the previous run must be gone before its claim flags are reset. Workers join a run
        // only under m_, so active_ == 0 seen under m_ holds until the new run is set up.
        spin_until([&] { return active_.load() == 0; }, spin_budget);
        {
            std::unique_lock<std::mutex> l(m_);
            idle_.wait(l, [&] { return active_.load() == 0; });
            while (workers_.size() + 1 < n) {
                const std::size_t home = workers_.size() + 1;
                workers_.emplace_back([this, home] { work(home); });
            }
            if (claimed_.size() < n) claimed_ = std::vector<std::atomic<bool>>(n);
            for (std::size_t i = 0; i < n; ++i) claimed_[i].store(false);
            task_ = &task, n_ = n;
            done_.store(0);
            generation_.store(generation_.load() + 1);
        }
        wake_.notify_all();
        inside() = true;
        run_claims(task, n, 0);
        inside() = false;
        if (!spin_until([&] { return done_.load() == n; }, spin_budget)) {
            std::unique_lock<std::mutex> l(m_);
            idle_.wait(l, [&] { return done_.load() == n; });
        }
        busy_.store(false);
        return true;
    }

private:
    static bool& inside() {
        thread_local bool flag = false;
        return flag;
    }

    /// Runs chunk `home` if still unclaimed, then every other unclaimed chunk (task is only dereferenced for a
    /// claimed index).
    void run_claims(const std::function<void(std::size_t)>& task, std::size_t n, std::size_t home) {
        auto run = [&](std::size_t i) {
            if (claimed_[i].exchange(true)) return;
            task(i);
            if (done_.fetch_add(1) + 1 == n) {
                std::lock_guard<std::mutex> l(m_);  // the caller checks done_ under m_ before it sleeps
                idle_.notify_all();
            }
        };
        if (home < n) run(home);
        for (std::size_t i = 0; i < n; ++i) run(i);
    }

    void work(std::size_t home) {
        inside() = true;
        std::uint64_t seen = 0;
        for (;;) {
            spin_until([&] { return generation_.load() != seen; }, spin_budget);
            const std::function<void(std::size_t)>* task;
            std::size_t n;
            {
                std::unique_lock<std::mutex> l(m_);
                wake_.wait(l, [&] { return generation_.load() != seen; });
                seen = generation_.load(), task = task_, n = n_;
                active_.fetch_add(1);
            }
            run_claims(*task, n, home);  // a worker that wakes after its run ended finds every index claimed
            if (active_.fetch_sub(1) == 1) {
                std::lock_guard<std::mutex> l(m_);
                idle_.notify_all();
            }
        }
    }

    std::atomic<bool> busy_{false};
    std::mutex m_;
    std::condition_variable wake_, idle_;
    std::vector<std::thread> workers_;
    std::vector<std::atomic<bool>> claimed_;  ///< per chunk of the current run: taken by some thread
    const std::function<void(std::size_t)>* task_ = nullptr;
    std::size_t n_ = 0;
    std::atomic<std::size_t> done_{0}, active_{0};
    std::atomic<std::uint64_t> generation_{0};
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
