// Codebook tests: shipped tables match their checksums, meet the quality bar on 10^7 Gaussian samples, and the fast
// nearest-point search equals brute force on 10^6 points per k (Gaussian, far tails, exact ties).
#include "common/metrics.hpp"

#include <qamw/codec.hpp>

#include <catch2/catch.hpp>

#include <atomic>

using namespace qamw;

namespace {
double bound_ratio(int k) {
    switch (k) {
        case 4: return 1.74;
        case 5: return 1.85;
        case 6: return 1.93;
        case 7: return 1.975;
        case 8: return 2.01;
        default: return 2.03;
    }
}
}  // namespace

TEST_CASE("shipped codebook tables match their checksums and are distinct points", "[codebook]") {
    for (int k = min_bits; k <= max_bits; ++k) {
        const codebook cb(k);  // the constructor verifies the FNV-1a checksum
        REQUIRE(cb.size() == (std::size_t{1} << k));
        std::vector<float> xy;
        for (std::size_t i = 0; i < cb.size(); ++i) xy.push_back(cb.xs()[i]), xy.push_back(cb.ys()[i]);
        REQUIRE(detail::fnv1a64(xy.data(), xy.size() * 4) == cb.checksum());
        for (std::size_t i = 0; i < cb.size(); ++i) REQUIRE(cb.nearest(cb.xs()[i], cb.ys()[i]) == i);
    }
    REQUIRE_THROWS_WITH(codebook(3), Catch::Contains("outside [4, 12]"));
    REQUIRE_THROWS_WITH(codebook(13), Catch::Contains("outside [4, 12]"));
}

TEST_CASE("codebook MSE per coordinate / 2^-k meets the bar on 10^7 N(0, I2) samples", "[codebook][quality]") {
    for (int k = min_bits; k <= max_bits; ++k) {
        double ratio = tools::codebook_mse(codebook(k), 10'000'000, 0x5eed + k) / std::ldexp(1.0, -k);
        WARN("k=" << k << " MSE/2^-k = " << ratio);
        CHECK(ratio <= bound_ratio(k));
        CHECK(ratio >= 1.0);  // the distortion-rate bound cannot be beaten
    }
}

TEST_CASE("fast nearest-point search equals brute force, ties to the lower index", "[codebook][search]") {
    for (int k = min_bits; k <= max_bits; ++k) {
        const codebook cb(k);
        const std::size_t n = 1'000'000, chunks = 8;
        std::atomic<std::size_t> mismatches{0};
        parallel_for(chunks, 0, [&](std::size_t c0, std::size_t c1) {
            for (std::size_t c = c0; c < c1; ++c) {
                tools::rng r(77 * k + c);
                for (std::size_t i = 0; i < n / chunks; ++i) {
                    float x, y;
                    switch (i % 10) {
                        case 0: case 1: {  // far tails: uniform in the disk of radius 12
                            double rad = 12 * std::sqrt(r.uniform()), a = 6.283185307179586 * r.uniform();
                            x = float(rad * std::cos(a)), y = float(rad * std::sin(a));
                            break;
                        }
                        case 2: {  // midpoint of two codewords: on a cell boundary when they are neighbours
                            std::size_t a = r.next() % cb.size();
                            std::size_t b = cb.nearest(cb.xs()[a] + float(0.3 * r.normal()), cb.ys()[a] + float(0.3 * r.normal()));
                            x = 0.5f * (cb.xs()[a] + cb.xs()[b]), y = 0.5f * (cb.ys()[a] + cb.ys()[b]);
                            break;
                        }
                        case 3: {  // a codeword itself, or a tiny offset from it
                            std::size_t a = r.next() % cb.size();
                            x = cb.xs()[a] + float(1e-7 * r.normal()), y = cb.ys()[a];
                            break;
                        }
                        default:
                            x = float(r.normal()), y = float(r.normal());
                    }
                    if (cb.nearest(x, y) != ref::nearest(x, y, cb.xs(), cb.ys(), cb.size())) ++mismatches;
                }
            }
        });
        INFO("k=" << k << " mean candidates per cell " << cb.index().mean_candidates());
        REQUIRE(mismatches == 0);
    }
    // Symmetric ties: the origin is equidistant from every point of a centred ring; the lower index must win.
    float xs[4] = {1, 0, -1, 0}, ys[4] = {0, 1, 0, -1};
    nearest_index idx(xs, ys, 4);
    REQUIRE(idx.nearest(0, 0) == 0);
    REQUIRE(idx.nearest(-0.5f, -0.5f) == 2);
    REQUIRE(idx.nearest(0.5f, 0.5f) == 0);
}
