// tools/common/random.hpp — a portable random source for measurements and tests: the same numbers on every platform
// and standard library (std::normal_distribution is implementation-defined, this is not).
#pragma once

#include <qamw/detail/hash.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

namespace qamw::tools {

/// SplitMix64 stream, uniform doubles in [0, 1), Box–Muller standard normals.
class rng {
public:
    explicit rng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() { return detail::splitmix64(state_ += 0x9e3779b97f4a7c15ull); }
    double uniform() { return double(next() >> 11) * 0x1p-53; }
    double normal() {
        if (has_spare_) return has_spare_ = false, spare_;
        double u = 1.0 - uniform(), v = uniform();
        double r = std::sqrt(-2 * std::log(u)), a = 6.283185307179586 * v;
        spare_ = r * std::sin(a), has_spare_ = true;
        return r * std::cos(a);
    }

private:
    std::uint64_t state_;
    double spare_ = 0;
    bool has_spare_ = false;
};

/// n i.i.d. N(0, σ²) floats.
inline std::vector<float> gaussian_vector(std::uint64_t seed, std::size_t n, double sigma = 1.0) {
    rng r(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(sigma * r.normal());
    return v;
}

}  // namespace qamw::tools
