// qamw/detail/hash.hpp — deterministic integer mixing shared by the codec: SplitMix64 (the random sign stream of the
// randomized Hadamard transform) and FNV-1a 64 (checksums of codebook tables).
#pragma once

#include <cstddef>
#include <cstdint>

namespace qamw::detail {

/// SplitMix64 output for state `x` (the state advances by 0x9e3779b97f4a7c15 per output).
constexpr std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/// FNV-1a 64 over bytes, continuing from `h`.
inline std::uint64_t fnv1a64(const void* data, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ull) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

}  // namespace qamw::detail
