// qamw/kernels/lookup.hpp — packed codes → codeword coordinates, the step every decode and product kernel starts with.
//
// Unit of work: a group of 8 pairs, which occupies exactly k bytes of a row (8·k bits) and yields 16 floats
// (x0, y0, x1, y1, …, x7, y7) from the interleaved codebook table (table2[2i], table2[2i+1] = codeword i). Within a
// group, pair l starts at bit l·k: byte (l·k)/8, shift (l·k) mod 8; reading the little-endian 32-bit word at that byte
// and shifting gives the index in its low k bits. Every path reads up to 3 bytes past the group's k bytes, so callers
// guarantee 3 readable bytes after the codes they pass (qamw pads its buffers; decode.hpp handles the final row).
//
// Per-ISA helpers (the only intrinsics in qamw): AVX-512 gathers 8 code words and 8 64-bit codeword pairs per group
// (2 gathers per 16 weights); AVX2 the same in two halves; other targets (SSE2, NEON) extract with scalar loads.
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

/// Byte offsets and shifts of the 8 pairs of a group for one k.
struct group_layout {
    alignas(32) std::int32_t byte[8];
    alignas(32) std::int32_t shift[8];
    std::uint32_t mask;
    explicit group_layout(int k) : mask((1u << k) - 1u) {
        for (int l = 0; l < 8; ++l) byte[l] = (l * k) >> 3, shift[l] = (l * k) & 7;
    }
};

template <class Arch>
struct lookup {
    using batch = xsimd::batch<float, Arch>;
    static constexpr std::size_t W = batch::size;
    static constexpr std::size_t per_group = 16 / W;  ///< batches per group of 8 pairs
    static_assert(16 % W == 0, "batch width must divide 16 floats");

    /// The 16 floats of the group starting at `group` into out[0, per_group).
    static void group(const std::uint8_t* group, const group_layout& g, const float* table2, batch* out) {
#if defined(__AVX512F__)
        if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
            __m256i w = _mm256_i32gather_epi32(reinterpret_cast<const int*>(group),
                                               _mm256_load_si256(reinterpret_cast<const __m256i*>(g.byte)), 1);
            __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(w, _mm256_load_si256(reinterpret_cast<const __m256i*>(g.shift))),
                                           _mm256_set1_epi32(static_cast<int>(g.mask)));
            out[0] = _mm512_castsi512_ps(_mm512_i32gather_epi64(idx, reinterpret_cast<const long long*>(table2), 8));
            return;
        }
#endif
#if defined(__AVX2__)
        if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
            __m256i w = _mm256_i32gather_epi32(reinterpret_cast<const int*>(group),
                                               _mm256_load_si256(reinterpret_cast<const __m256i*>(g.byte)), 1);
            __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(w, _mm256_load_si256(reinterpret_cast<const __m256i*>(g.shift))),
                                           _mm256_set1_epi32(static_cast<int>(g.mask)));
            const auto* t = reinterpret_cast<const long long*>(table2);
            out[0] = _mm256_castsi256_ps(_mm256_i32gather_epi64(t, _mm256_castsi256_si128(idx), 8));
            out[1] = _mm256_castsi256_ps(_mm256_i32gather_epi64(t, _mm256_extracti128_si256(idx, 1), 8));
            return;
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
