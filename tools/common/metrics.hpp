// tools/common/metrics.hpp — reconstruction-quality figures shared by the CLI, the benchmarks and the tests.
#pragma once

#include "random.hpp"

#include <qamw/codebooks/codebook.hpp>
#include "common/parallel.hpp"

#include <cmath>
#include <cstddef>
#include <vector>

namespace qamw::tools {

/// Σ(a − b)² / Σa² over n values (0 when a is all zero).
inline double relative_mse(const float* a, const float* b, std::size_t n) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double d = double(a[i]) - double(b[i]);
        num += d * d, den += double(a[i]) * a[i];
    }
    return den > 0 ? num / den : 0;
}
inline double relative_mse(const std::vector<float>& a, const std::vector<float>& b) {
    return relative_mse(a.data(), b.data(), a.size());
}

/// Signal-to-quantization-noise ratio in dB for a relative MSE.
inline double sqnr_db(double rel_mse) { return rel_mse > 0 ? -10 * std::log10(rel_mse) : INFINITY; }

/// MSE per coordinate of codebook `cb` on `samples` N(0, I₂) points drawn from `seed` (16 fixed streams, so the
/// result does not depend on the thread count).
inline double codebook_mse(const codebook& cb, std::size_t samples, std::uint64_t seed, int threads = 0) {
    const std::size_t chunks = 16;
    std::vector<double> part(chunks);
    parallel_for(chunks, threads, [&](std::size_t c0, std::size_t c1) {
        for (std::size_t c = c0; c < c1; ++c) {
            rng r(seed * 1000 + c);
            double s = 0;
            for (std::size_t i = samples * c / chunks; i < samples * (c + 1) / chunks; ++i) {
                float x = float(r.normal()), y = float(r.normal());
                auto j = cb.nearest(x, y);
                s += sq_distance(x, y, cb.xs()[j], cb.ys()[j]);
            }
            part[c] = s;
        }
    });
    double sum = 0;
    for (double s : part) sum += s;
    return sum / double(samples) / 2;
}

}  // namespace qamw::tools
