// qamw/stages/packer.hpp — the bit-packing stage.
//
// Format. m indices of k bits (4 ≤ k ≤ 12) occupy ⌈m·k/8⌉ bytes. Index i occupies bits [i·k, i·k + k) of the stream,
// least significant bit first; stream bit b is bit (b mod 8) of byte ⌊b/8⌋. Unused high bits of the last byte are
// zero. Equivalently: the stream is the little-endian integer Σ_i idx_i · 2^(i·k). Lossless for indices < 2^k.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qamw {

/// The range of k, bits per index.
constexpr int min_bits = 4, max_bits = 12;

/// Bytes that m indices of k bits occupy.
constexpr std::size_t packed_bytes(std::size_t m, int k) { return (m * static_cast<std::size_t>(k) + 7) / 8; }

namespace ref {

/// Packs m indices (each < 2^k) into packed_bytes(m, k) bytes of out.
inline void pack(const std::uint16_t* idx, std::size_t m, int k, std::uint8_t* out) {
    std::size_t nbytes = packed_bytes(m, k);
    for (std::size_t b = 0; b < nbytes; ++b) out[b] = 0;
    std::size_t bit = 0;
    for (std::size_t i = 0; i < m; ++i, bit += static_cast<std::size_t>(k)) {
        std::uint32_t v = static_cast<std::uint32_t>(idx[i]) << (bit % 8);  // ≤ 12 + 7 bits: spans ≤ 3 bytes
        for (std::size_t b = bit / 8; v != 0; ++b, v >>= 8) out[b] = static_cast<std::uint8_t>(out[b] | (v & 0xffu));
    }
}

/// Index i of a packed stream (reads only bytes inside packed_bytes(i + 1, k)).
inline std::uint16_t unpack_one(const std::uint8_t* in, std::size_t i, int k) {
    std::size_t bit = i * static_cast<std::size_t>(k), b = bit / 8, last = (bit + static_cast<std::size_t>(k) - 1) / 8;
    std::uint32_t v = 0;
    for (std::size_t j = b; j <= last; ++j) v |= static_cast<std::uint32_t>(in[j]) << (8 * (j - b));
    return static_cast<std::uint16_t>((v >> (bit % 8)) & ((1u << k) - 1u));
}

/// Unpacks m indices.
inline void unpack(const std::uint8_t* in, std::size_t m, int k, std::uint16_t* idx) {
    for (std::size_t i = 0; i < m; ++i) idx[i] = unpack_one(in, i, k);
}

}  // namespace ref
}  // namespace qamw
