// qamw/kernels/int_avx2.hpp — the AVX2 q8 row kernel (k ≤ 7; formats and scalar reference: kernels/int_format.hpp;
// dispatch: kernels/int_product.hpp, which runs it for k ≤ 6 in the avx2 kernel set and k ≤ 7 in the avx512 one, where
// it measured faster than q16, docs/PERFORMANCE.md "Integer kernels"). Instantiated only for architectures with AVX2
// and without AVX-512 VBMI.
//
// Per 32 pairs (64 weights, two activation scale blocks; the lanes of a ymm hold pairs 0–15 and 16–31):
//   codes → 32 byte indices: k = 4 one 16-byte load, psrlw + 2 pand + punpcklbw/punpckhbw +
//   vinserti128; k = 5…7 two 16-byte loads (bytes [0, 2k) and [2k, 4k), one per lane), 2 pshufb (bytes ⌊pk/8⌋,
//   ⌊pk/8⌋ + 1 of pair p into a 16-bit lane), 2 pmullw (shift left by 16 − k − (pk mod 8)) + 2 psrlw (by 16 − k),
//   1 packuswb. Near a row's end (fewer bytes left than those loads read) the codes go through a 32-byte buffer: no
//   byte past the row's codes is read.
//   codebook: signed int8 (cx = ux8 − 128), 16-entry slices broadcast to both lanes, one pshufb per slice and
//   coordinate, combined by a tree of pblendvb on index bits 4…k−1 (selectors shared by both coordinates): per
//   coordinate 2^(k−4) pshufb + 2^(k−4) − 1 pblendvb (k = 7: 8 + 7; the two coordinates' 16 slices exceed AVX2's 16
//   registers and are partly reloaded from L1; compiled for AVX-512BW the blends become mask moves and 32 registers
//   hold them). k = 8 (16 + 15 per coordinate) measured slower than q16 on AVX2 and no faster on AVX-512BW: not built.
//   products: pmaddubsw(|a|, sign(c, a)) per coordinate (|cx·ax + cx'·ax'| ≤ 2·127² fits int16, no saturation),
//   2 pmaddwd with ones, 1 paddd, 1 cvtdq2ps, 1 FMA with the two blocks' scales.
#pragma once

#include <qamw/kernels/int_format.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace qamw::kernels::x86 {

template <class Arch, int K>
struct q8_avx2 {
    static constexpr int slices = (1 << K) / 16;

    /// Bytes indices() reads.
    static constexpr std::size_t reads = K == 4 ? 16 : 2 * K + 16;

    /// The 32 indices of the 32 pairs whose codes start at c (4K bytes; reads `reads` bytes).
    static __m256i indices(const std::uint8_t* c) {
        if constexpr (K == 4) {
            const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c)), m = _mm_set1_epi8(0x0f);
            const __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
            return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(lo, hi)), _mm_unpackhi_epi8(lo, hi), 1);
        } else {
            alignas(32) static constexpr auto ctl = [] {
                struct t { std::uint8_t gather[2][32]; std::int16_t mul[2][16]; } s{};
                for (int h = 0; h < 2; ++h)
                    for (int l = 0; l < 2; ++l)      // lane l
                        for (int j = 0; j < 8; ++j) {  // lane-local pair 8h + j
                            const int p = 8 * h + j;
                            s.gather[h][16 * l + 2 * j] = static_cast<std::uint8_t>(p * K / 8);
                            s.gather[h][16 * l + 2 * j + 1] = static_cast<std::uint8_t>(p * K / 8 + 1);
                            s.mul[h][8 * l + j] = static_cast<std::int16_t>(1 << (16 - K - p * K % 8));
                        }
                return s;
            }();
            const __m256i raw = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(c + 2 * K), reinterpret_cast<const __m128i*>(c));
            auto half = [&](int h) {
                const __m256i w = _mm256_shuffle_epi8(raw, _mm256_load_si256(reinterpret_cast<const __m256i*>(ctl.gather[h])));
                return _mm256_srli_epi16(_mm256_mullo_epi16(w, _mm256_load_si256(reinterpret_cast<const __m256i*>(ctl.mul[h]))), 16 - K);
            };
            return _mm256_packus_epi16(half(0), half(1));
        }
    }

    /// The coordinates of 32 indices (< 2^K) from the N = 2^m broadcast slices t[0, N): the two halves' picks blended
    /// on index bit m + 3 (unrolled at compile time).
    template <int N = slices>
    static __m256i lookup(const __m256i* t, __m256i idx) {
        if constexpr (N == 1) {
            return _mm256_shuffle_epi8(_mm256_load_si256(t), idx);
        } else {
            constexpr int m = N == 2 ? 1 : N == 4 ? 2 : 3;
            const __m256i sel = _mm256_slli_epi16(idx, 4 - m);  // index bit m + 3 into each byte's bit 7
            return _mm256_blendv_epi8(lookup<N / 2>(t, idx), lookup<N / 2>(t + N / 2, idx), sel);
        }
    }

    static void rows(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs,
                     const int_codebook& cb, const block_q8a* a, float* y) {
        static_assert(K >= 4 && K <= 7, "the AVX2 q8 kernel is built for 4 <= k <= 7");
        alignas(32) __m256i tx[slices], ty[slices];
        auto slice = [](const std::uint8_t* u) {  // 16 offset-unsigned entries → signed, in both lanes
            const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(u));
            return _mm256_xor_si256(_mm256_broadcastsi128_si256(v), _mm256_set1_epi8(static_cast<char>(0x80)));
        };
        for (int s = 0; s < slices; ++s) tx[s] = slice(cb.ux8 + 16 * s), ty[s] = slice(cb.uy8 + 16 * s);
        const __m256i ones = _mm256_set1_epi16(1), lane_block = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
        const std::size_t row_bytes = pairs * K / 8;
        for (std::size_t r = 0; r < nrows; ++r) {
            const std::uint8_t* c = codes + r * stride;
            __m256 f0 = _mm256_setzero_ps(), f1 = _mm256_setzero_ps();
            for (std::size_t p0 = 0; p0 < pairs; p0 += 32) {
                const block_q8a& b = a[p0 / 64];
                const std::size_t off = p0 * K / 8, h = (p0 % 64) / 32;
                __m256i idx;
                if (off + reads <= row_bytes) {
                    idx = indices(c + off);
                } else {  // the row's end: its last codes through a buffer (pairs past the row meet a zero activation)
                    alignas(32) std::uint8_t buf[32] = {};
                    std::memcpy(buf, c + off, std::min(row_bytes - off, std::size_t{4 * K}));
                    idx = indices(buf);
                }
                const __m256i ax = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.x + 32 * h));
                const __m256i ay = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.y + 32 * h));
                const __m256i mx = _mm256_maddubs_epi16(_mm256_abs_epi8(ax), _mm256_sign_epi8(lookup(tx, idx), ax));
                const __m256i my = _mm256_maddubs_epi16(_mm256_abs_epi8(ay), _mm256_sign_epi8(lookup(ty, idx), ay));
                const __m256i t = _mm256_add_epi32(_mm256_madd_epi16(mx, ones), _mm256_madd_epi16(my, ones));
                const __m128 d2 = _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.d + 2 * h)));  // 2 scales
                const __m256 d = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d2), lane_block);
                if (h) f1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), d, f1);
                else f0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), d, f0);
            }
            const __m256 f = _mm256_add_ps(f0, f1);
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            s = _mm_add_ss(s, _mm_movehdup_ps(s));
            y[r] = cb.s8 * _mm_cvtss_f32(s);
        }
    }
};

}  // namespace qamw::kernels::x86
#endif
