// qamw/executor.hpp — how the library's whole-matrix functions (encode, decode) use the caller's threads.
//
// An executor is any callable exec(n, f) that calls f(begin, end) on disjoint chunks covering [0, n), in any order
// and on any threads, and returns when all have run (rethrowing a chunk's exception). The library never starts a
// thread: it hands work to the executor it is given, and the default one runs everything on the calling thread. Each
// row is processed by exactly one call whatever the split, so results are the same bytes for every executor.
#pragma once

#include <cstddef>

namespace qamw {

/// The default executor: one chunk, on the calling thread.
struct serial {
    template <class F>
    void operator()(std::size_t n, F&& f) const {
        if (n) f(std::size_t{0}, n);
    }
};

}  // namespace qamw
