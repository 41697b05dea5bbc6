// tools/common/parallel.hpp — the tools' threads (the library starts none): split a loop over [0, n) into contiguous chunks run on `threads` threads.
//
// The split depends only on n and the thread count, and each index is processed by exactly one call, so work whose
// items are independent (rows of a matrix) gives the same bytes for every thread count. Exceptions thrown by a chunk
// are rethrown on the calling thread (the first one, by chunk order).
//
// Chunks run on a process-wide pool of worker threads that is started on first use and kept, so a product called
// every token pays no thread start-up; each thread first runs the same chunks in every call with the same split
// (its home chunks; when a product asks for several chunks per thread it then takes others' still unclaimed), and idle
// threads spin briefly before sleeping (detail::thread_pool). The caller is one of the threads. A call made while
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
#include <memory>
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
/// A run has n chunks and `threads` participants: the caller (participant 0) and workers 1 … threads − 1. Participant
/// h first runs its home chunks [n·h/threads, n·(h + 1)/threads) front to back, so a product run again with the same
/// split finds each thread's rows still in that core's cache; then it takes the other participants' unclaimed chunks
/// from their back ends, so a thread slowed by its core's other load or by its rows is helped (with one chunk per
/// participant there is nothing to take but chunks whose owner has not yet started).
///
/// Nothing on the path of a run takes a lock while threads are busy or spinning: the caller publishes the run's
/// fields under a sequence counter (odd while it writes, as a seqlock), workers read them and check the counter is
/// unchanged, and each chunk is claimed by a compare-and-swap of its slot from an older run number to this one, so a
/// worker still leaving an earlier run can never claim (or run) a chunk of a later one. Threads spin for up to
/// spin_budget before sleeping on a condition variable, both waiting for the next run and, in the caller, for the
/// last chunks: back-to-back products (every token of a model) then pay no futex wake-up (tens of microseconds per
/// call in a virtual machine, against a 16-thread GEMV of a few hundred) and no convoy of workers through one mutex.
class thread_pool {
public:
    static constexpr std::chrono::microseconds spin_budget{200};
    /// The most chunks one run can have (parallel_for never asks for more).
    static constexpr std::size_t max_chunks = 4096;

    static thread_pool& instance() {
        static thread_pool* pool = new thread_pool;
        return *pool;
    }
    /// Runs task(i) for every i in [0, n) on `threads` participants (the calling thread one of them;
    /// 2 ≤ threads ≤ n ≤ max_chunks). Returns false, having run nothing, when the pool is serving another run or the
    /// caller is itself inside a run.
    bool try_run(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& task) {
        bool expected = false;
        if (inside() || !busy_.compare_exchange_strong(expected, true)) return false;
        try {
            while (workers_.size() + 1 < threads) {  // only this caller (busy_) touches workers_
                const std::size_t home = workers_.size() + 1;
                workers_.emplace_back([this, home] { work(home); });
            }
        } catch (...) {  // no thread could be started: the pool stays usable, this caller sees the error
            busy_.store(false);
            throw;
        }
        // a seqlock of sequentially consistent atomics (no fences): a worker that reads a field of the next run
        // also reads the odd count stored before it
        const std::uint64_t s = seq_.load();
        seq_.store(s + 1);  // odd: the fields below are being written
        task_.store(&task);
        n_.store(n);
        threads_.store(threads);
        done_.store(0);
        seq_.store(s + 2);  // even again: run number (s + 2) / 2 is published
        if (sleepers_.load() > 0) {
            { std::lock_guard<std::mutex> l(m_); }  // a worker between its check and its wait holds m_
            wake_.notify_all();
        }
        inside() = true;
        run_claims(&task, n, threads, 0, (s + 2) / 2);
        inside() = false;
        if (!spin_until([&] { return done_.load() == n; }, spin_budget)) {
            std::unique_lock<std::mutex> l(m_);
            caller_sleeping_.store(true);
            idle_.wait(l, [&] { return done_.load() == n; });
            caller_sleeping_.store(false);
        }
        busy_.store(false);
        return true;
    }

private:
    thread_pool() {
        for (std::size_t i = 0; i < max_chunks; ++i) claimed_[i].store(0, std::memory_order_relaxed);
    }

    static bool& inside() {
        thread_local bool flag = false;
        return flag;
    }

    /// Runs chunk i if this claims it for run `run` (its slot holds an older run number).
    void claim_and_run(const std::function<void(std::size_t)>* task, std::size_t i, std::size_t n, std::uint64_t run) {
        std::uint64_t c = claimed_[i].load(std::memory_order_relaxed);
        if (c >= run || !claimed_[i].compare_exchange_strong(c, run)) return;
        (*task)(i);  // dereferenced only for a claimed chunk: the run, hence the caller's task, is still alive
        if (done_.fetch_add(1) + 1 == n && caller_sleeping_.load()) {
            std::lock_guard<std::mutex> l(m_);
            idle_.notify_all();
        }
    }

    /// Participant h's home chunks front to back, then the others' from their back ends.
    void run_claims(const std::function<void(std::size_t)>* task, std::size_t n, std::size_t threads, std::size_t h,
                    std::uint64_t run) {
        auto first = [&](std::size_t p) { return n * p / threads; };
        for (std::size_t i = first(h); i < first(h + 1); ++i) claim_and_run(task, i, n, run);
        for (std::size_t d = 1; d < threads; ++d) {
            const std::size_t v = (h + d) % threads;
            for (std::size_t i = first(v + 1); i-- > first(v);) claim_and_run(task, i, n, run);
        }
    }

    /// Waits for a published run newer than `seen`, spinning first; returns its sequence number.
    std::uint64_t next_run(std::uint64_t seen) {
        auto fresh = [&] {
            const std::uint64_t s = seq_.load();
            return s != seen && s % 2 == 0;
        };
        if (!spin_until(fresh, spin_budget)) {
            std::unique_lock<std::mutex> l(m_);
            sleepers_.fetch_add(1);
            wake_.wait(l, fresh);
            sleepers_.fetch_sub(1);
        }
        return seq_.load();
    }

    void work(std::size_t home) {
        inside() = true;
        std::uint64_t seen = 0;
        for (;;) {
            const std::uint64_t s = next_run(seen);
            const auto* task = task_.load();
            const std::size_t n = n_.load(), threads = threads_.load();
            if (s % 2 != 0 || seq_.load() != s) continue;  // a newer run is being written
            seen = s;
            if (home < threads) run_claims(task, n, threads, home, s / 2);
        }
    }

    std::atomic<bool> busy_{false};
    std::atomic<std::uint64_t> seq_{0};  ///< 2 × the number of the last published run; odd while one is written
    std::atomic<const std::function<void(std::size_t)>*> task_{nullptr};
    std::atomic<std::size_t> n_{0}, threads_{0}, done_{0}, sleepers_{0};
    std::atomic<bool> caller_sleeping_{false};
    /// per chunk: the number of the run that claimed it
    std::unique_ptr<std::atomic<std::uint64_t>[]> claimed_{new std::atomic<std::uint64_t>[max_chunks]};
    std::mutex m_;
    std::condition_variable wake_, idle_;
    std::vector<std::thread> workers_;
};

}  // namespace detail

/// Calls f(begin, end) on disjoint chunks covering [0, n) — chunk i is [n·i/c, n·(i + 1)/c) — on at most `threads`
/// threads (0: all cores). c = min(threads · chunks_per_thread, ⌈n / grain⌉, thread_pool::max_chunks): each chunk is
/// at least `grain` long (but for n < grain). With chunks_per_thread > 1 a thread that finishes its own chunks takes
/// others' (products whose threads run at uneven speeds); with 1 (the default) each thread runs one chunk.
template <class F>
void parallel_for(std::size_t n, int threads, F&& f, std::size_t grain = 1, std::size_t chunks_per_thread = 1) {
    if (n == 0) return;
    const std::size_t t = static_cast<std::size_t>(resolve_threads(threads));
    const std::size_t c = std::max<std::size_t>(
        1, std::min({t * std::max<std::size_t>(chunks_per_thread, 1), (n + grain - 1) / std::max<std::size_t>(grain, 1),
                     detail::thread_pool::max_chunks}));
    if (c == 1 || t == 1) {
        for (std::size_t i = 0; i < c; ++i) f(n * i / c, n * (i + 1) / c);
        return;
    }
    std::vector<std::exception_ptr> errors(c);
    const std::function<void(std::size_t)> chunk = [&](std::size_t i) {
        try {
            f(n * i / c, n * (i + 1) / c);
        } catch (...) {
            errors[i] = std::current_exception();
        }
    };
    if (!detail::thread_pool::instance().try_run(c, std::min(t, c), chunk))
        for (std::size_t i = 0; i < c; ++i) chunk(i);
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
