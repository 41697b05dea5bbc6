// parallel_for and its worker pool: every index exactly once for any n and thread count, the documented split,
// errors rethrown by chunk order, nested calls and concurrent callers complete (they fall back to the calling thread).
#include "common/parallel.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace qamw;

namespace {
/// Runs parallel_for over [0, n) and checks that every index was visited once and chunks follow n·i/c, c =
/// min(threads · per_thread, ⌈n / grain⌉).
void check_cover(std::size_t n, int threads, std::size_t grain, std::size_t per_thread = 1) {
    std::vector<std::atomic<int>> seen(n);
    std::vector<std::pair<std::size_t, std::size_t>> chunks;
    std::mutex m;
    parallel_for(n, threads, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) seen[i].fetch_add(1);
        std::lock_guard<std::mutex> l(m);
        chunks.emplace_back(b, e);
    }, grain, per_thread);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(seen[i].load() == 1);
    if (n == 0) return;
    std::size_t t = std::min<std::size_t>(static_cast<std::size_t>(threads) * per_thread, (n + grain - 1) / grain);
    t = std::max<std::size_t>(t, 1);
    REQUIRE(chunks.size() == t);
    for (auto [b, e] : chunks) {
        bool found = false;
        for (std::size_t i = 0; i < t; ++i) found |= (b == n * i / t && e == n * (i + 1) / t);
        REQUIRE(found);
    }
}
}  // namespace

TEST_CASE("parallel_for visits every index once, in the documented chunks", "[parallel]") {
    for (std::size_t n : {0, 1, 2, 3, 7, 64, 1000, 4097})
        for (int threads : {1, 2, 3, 8})
            for (std::size_t grain : {1, 64})
                for (std::size_t per_thread : {1, 4}) {
                    INFO("n " << n << " threads " << threads << " grain " << grain << " per thread " << per_thread);
                    check_cover(n, threads, grain, per_thread);
                }
}

TEST_CASE("back-to-back runs of changing shape never run a chunk twice or skip one", "[parallel]") {
    // Workers leaving one run overlap the next: a chunk claimed by a stale run, or a claim slot reset under a
    // worker, would show as an index visited 0 or 2 times.
    std::vector<std::atomic<int>> seen(4097);
    for (int round = 0; round < 3000; ++round) {
        const std::size_t n = 1 + static_cast<std::size_t>(round * 7919) % seen.size();
        const int threads = 2 + round % 3;
        const std::size_t per_thread = 1 + static_cast<std::size_t>(round % 5);
        for (std::size_t i = 0; i < n; ++i) seen[i].store(0);
        parallel_for(n, threads, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) seen[i].fetch_add(1);
        }, 1, per_thread);
        for (std::size_t i = 0; i < n; ++i) {
            if (seen[i].load() != 1) {
                INFO("round " << round << " n " << n << " index " << i);
                REQUIRE(seen[i].load() == 1);
            }
        }
    }
}

TEST_CASE("parallel_for rethrows the first failing chunk's error, after every chunk ran", "[parallel]") {
    std::atomic<int> ran{0};
    try {
        parallel_for(8, 4, [&](std::size_t b, std::size_t) {
            ++ran;
            if (b >= 2) throw std::runtime_error("chunk at " + std::to_string(b));
        });
        FAIL("no exception");
    } catch (const std::runtime_error& e) {
        REQUIRE(std::string(e.what()) == "chunk at 2");
    }
    REQUIRE(ran.load() == 4);
    check_cover(100, 4, 1);  // the pool is usable after a failed run
}

TEST_CASE("nested and concurrent parallel_for calls complete with the same coverage", "[parallel]") {
    std::vector<std::atomic<int>> seen(64 * 50);
    parallel_for(64, 4, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i)  // nested: runs on the calling thread
            parallel_for(50, 3, [&](std::size_t c0, std::size_t c1) {
                for (std::size_t j = c0; j < c1; ++j) seen[i * 50 + j].fetch_add(1);
            });
    });
    for (auto& s : seen) REQUIRE(s.load() == 1);

    std::vector<std::thread> callers;
    std::atomic<long> total{0};
    for (int c = 0; c < 4; ++c)
        callers.emplace_back([&] {
            for (int round = 0; round < 200; ++round) {
                std::atomic<long> sum{0};
                parallel_for(1000, 2, [&](std::size_t b, std::size_t e) {
                    long s = 0;
                    for (std::size_t i = b; i < e; ++i) s += static_cast<long>(i);
                    sum += s;
                });
                if (sum.load() == 999L * 1000 / 2) ++total;
            }
        });
    for (auto& t : callers) t.join();
    REQUIRE(total.load() == 4 * 200);
}
