// qamw/parallel.hpp — split a loop over [0, n) into contiguous chunks run on `threads` std::threads.
//
// The split depends only on n and the thread count, and each index is processed by exactly one call, so work whose
// items are independent (rows of a matrix) gives the same bytes for every thread count. Exceptions thrown by a chunk
// are rethrown on the calling thread (the first one, by chunk order).
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace qamw {

/// Resolves a user's thread count: 0 means "all hardware threads".
inline int resolve_threads(int threads) {
    if (threads > 0) return threads;
    unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(hw);
}

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
    std::vector<std::thread> pool;
    pool.reserve(t - 1);
    auto run = [&](std::size_t i) {
        std::size_t b = n * i / t, e = n * (i + 1) / t;
        try {
            f(b, e);
        } catch (...) {
            errors[i] = std::current_exception();
        }
    };
    for (std::size_t i = 1; i < t; ++i) pool.emplace_back(run, i);
    run(0);
    for (auto& th : pool) th.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace qamw
