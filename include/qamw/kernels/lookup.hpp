// qamw/kernels/lookup.hpp — packed codes → codeword coordinates, the step every decode and product kernel starts with.
//
// Unit of work: a group of 8 pairs, which occupies exactly k bytes of a row (8·k bits) and yields 16 floats
// (x0, y0, x1, y1, …, x7, y7) from the interleaved codebook table (table2[2i], table2[2i+1] = codeword i). Within a
// group, pair l starts at bit l·k: byte (l·k)/8, shift (l·k) mod 8; the little-endian 32-bit word at that byte, shifted,
// holds the index in its low k bits. Paths read up to `overread` (12) bytes past the last group's k bytes, so callers
// pass codes followed by that many readable bytes (detail::readable_codes).
//
// Per-ISA helpers (the only intrinsics in qamw). AVX2 and AVX-512: one 16-byte load of the group broadcast to both
// 128-bit lanes, one byte shuffle that moves each pair's 4 bytes into its 32-bit lane, one variable shift and one mask
// give the 8 indices; the 8 codeword pairs are then loaded as 64-bit scalars (2 per 128-bit register) and assembled.
// On Zen 5 this is faster than hardware gathers of the code words and table entries (docs/PERFORMANCE.md has the
// GEMV before and after). Other targets (SSE2, NEON) extract every index with scalar shifts.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace qamw::kernels {

/// Bytes read past the codes a kernel is given: a 16-byte load at the last group's start, whose k ≥ 4 bytes are codes.
inline constexpr std::size_t overread = 12;

/// Byte offsets and shifts of the 8 pairs of a group for one k, and the byte shuffle that gathers them.
struct group_layout {
    alignas(32) std::int32_t byte[8];
    alignas(32) std::int32_t shift[8];
    alignas(32) std::int8_t shuffle[32];  ///< 32-bit lane l ← bytes byte[l] … byte[l] + 3 (same in both 128-bit lanes)
    std::uint32_t mask;
    explicit group_layout(int k) : mask((1u << k) - 1u) {
        for (int l = 0; l < 8; ++l) {
            byte[l] = (l * k) >> 3, shift[l] = (l * k) & 7;
            for (int b = 0; b < 4; ++b) shuffle[4 * l + b] = static_cast<std::int8_t>(byte[l] + b);
        }
    }
};

template <class Arch>
struct lookup {
    using batch = xsimd::batch<float, Arch>;
    static constexpr std::size_t W = batch::size;
    static constexpr std::size_t per_group = 16 / W;  ///< batches per group of 8 pairs
    static_assert(16 % W == 0, "batch width must divide 16 floats");
#if defined(__AVX2__)
    /// AVX2 and AVX-512 (in xsimd 8, avx512f does not derive from avx2).
    static constexpr bool wide = std::is_base_of_v<xsimd::avx2, Arch> || std::is_base_of_v<xsimd::avx512f, Arch>;
#endif

    /// The 16 floats of the group starting at `group` into out[0, per_group).
    static void group(const std::uint8_t* group, const group_layout& g, const float* table2, batch* out) {
#if defined(__AVX2__)
        if constexpr (wide) {
            const __m256i src = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group)));
            const __m256i words = _mm256_shuffle_epi8(src, _mm256_load_si256(reinterpret_cast<const __m256i*>(g.shuffle)));
            alignas(32) std::uint32_t i[8];
            _mm256_store_si256(reinterpret_cast<__m256i*>(i),
                               _mm256_and_si256(_mm256_srlv_epi32(words, _mm256_load_si256(reinterpret_cast<const __m256i*>(g.shift))),
                                                _mm256_set1_epi32(static_cast<int>(g.mask))));
            auto two = [&](int l) {  // codewords i[l] and i[l + 1], 64 bits each
                const __m128i a = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(table2 + 2 * i[l]));
                return _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(a), reinterpret_cast<const double*>(table2 + 2 * i[l + 1])));
            };
            const __m256i lo = _mm256_inserti128_si256(_mm256_castsi128_si256(two(0)), two(2), 1);
            const __m256i hi = _mm256_inserti128_si256(_mm256_castsi128_si256(two(4)), two(6), 1);
#if defined(__AVX512F__)
            if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
                out[0] = _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
                return;
            }
#endif
            if constexpr (W == 8) {
                out[0] = _mm256_castsi256_ps(lo);
                out[1] = _mm256_castsi256_ps(hi);
                return;
            }
        }
#endif
        alignas(64) float f[16];
        for (int l = 0; l < 8; ++l) {
            std::uint32_t w;
            std::memcpy(&w, group + g.byte[l], 4);  // little-endian hosts only (all qamw targets)
            std::uint32_t i = (w >> g.shift[l]) & g.mask;
            f[2 * l] = table2[2 * i], f[2 * l + 1] = table2[2 * i + 1];
        }
        for (std::size_t b = 0; b < per_group; ++b) out[b] = batch::load_aligned(f + b * W);
    }
};

}  // namespace qamw::kernels
