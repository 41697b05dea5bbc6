// qamw/kernels/int_quantize.hpp — the SIMD element operations of the activation quantizers (quantize_q8a,
// quantize_q16a: kernels/int_format.hpp, whose block loop, scales and bias sum they run inside, through
// detail::quantize_q8a_with / quantize_q16a_with; the per-ISA dispatch: int_product<Arch>::quantize_q8a / q16a in
// kernels/int_product.hpp). Each gives the scalar reference's bytes, scales and bias bit for bit:
//
//   absmax   max |x̃| of a block in float (exact whatever the order: a max of finite floats) and a finiteness test
//            (|x̃| ≤ FLT_MAX, false for NaN and Inf); a block that fails it goes to detail::finite_absmax, which throws
//            the reference's errc::non_finite naming the first bad element (the blocks run in the reference's order,
//            so it is the first of the whole activation).
//   rounding the reference's double arithmetic in double lanes: float → double (exact), one multiply by inv (the same
//            IEEE double product p), then round half away from zero:
//              x86: trunc(p + copysign(h, p)) with h = 0.5 − 2^−54, the double below 0.5 (one and/or, one add, one
//              truncating conversion). Exact for |p| < 2^51 (here |p| ≤ 4095·(1 + 2^−52)); for p ≥ 0 (the other
//              sign is symmetric), with K = ⌊p + 0.5⌋ the reference's result:
//              · a tie, p = K − 0.5: p + h = K − 2^−54 is within half a spacing of K (spacing below K ≥ 2^−53, and
//                K − 2^−54 is the tie between 1 − 2^−53 and 1 when K = 1, which goes to the even 1): K.
//              · p < 0.5: p ≤ 0.5 − 2^−54, so p + h ≤ 1 − 2^−53 is exact and below 1: 0.
//              · p > 0.5, not a tie: p + 0.5 > K on the grid of p (spacing ≥ 2^−53), so p + h ≥ K + 2^−54 rounds to
//                ≥ K; and p + 0.5 ≤ K + 1 − ulp(p) (0.5 is a multiple of ulp(p)), so p + h lies below K + 1 − ulp(p)
//                by 2^−54 < ulp(p)/2 and rounds to at most K + 1 − ulp(p), or, past a binade edge (spacing 2·ulp(p)),
//                to at most K + 1 − 2·ulp(p): below K + 1.
//              The product and the sum must each be rounded (an FMA would skip the product's rounding): AVX-512 uses
//              the explicit-rounding intrinsics (never contracted); AVX2 passes the product through an empty asm on
//              GCC, and on Clang where AVX is on (act_avx2::round4; the project also compiles with -ffp-contract=off).
//              NEON: FCVTAS (vcvtaq_s64_f64), the hardware's round-to-nearest-ties-away conversion, the same integer.
//            |round| ≤ 127 (q8) or q16_act_max (q16) since |v| ≤ max · inv, so the narrowing to int8 / int16 is exact.
//   q8 sums  a sub-block's Σ (x + y) in int32 lanes (exact); the driver adds 128 · d · sum to the bias in double in
//            block order, as the reference does.
//   split    (quantize_q16s, AVX-512 VBMI) a q16 block's integers into block_q16s's byte planes: shifts, ands,
//            narrowings and byte permutes, exact integer operations, so split_q16a's bytes.
// Instructions per 16 elements: AVX-512 1 load, 2 float → double, 2 multiplies, 2 and/or (vpternlogq), 2 adds, 2
// truncating conversions to int32, one insert and a narrowing store; q8 adds one permute per coordinate (x and y
// apart) and a horizontal sum per 16 pairs; absmax one and + max + compare per 16 floats and a horizontal max per
// block. AVX2 the same per 8 elements (and + or apart), NEON per 4 (the conversion rounds: no add).
#pragma once

#include <qamw/kernels/arch.hpp>
#include <qamw/kernels/int_format.hpp>

#include <cfloat>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace qamw::kernels::x86 {

/// 0.5 − 2^−54, the double below 0.5: trunc(p + copysign(below_half, p)) rounds p half away from zero (file comment).
inline constexpr double below_half = 0x1.fffffffffffffp-2;

/// AVX-512F element operations (the avx512bw kernel set and those derived from it).
template <class Arch>
struct act_avx512 {
    /// round_half_away(double(f[i]) · inv) for 8 floats, as int32 (see the file comment).
    static __m256i round8(__m256 f, __m512d inv) {
        constexpr int nearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        const __m512i p = _mm512_castpd_si512(_mm512_mul_round_pd(_mm512_cvtps_pd(f), inv, nearest));
        const __m512i h = _mm512_or_si512(_mm512_and_si512(p, _mm512_set1_epi64(std::int64_t(1) << 63)),
                                          _mm512_castpd_si512(_mm512_set1_pd(below_half)));
        return _mm512_cvtt_roundpd_epi32(_mm512_add_round_pd(_mm512_castsi512_pd(p), _mm512_castsi512_pd(h), nearest),
                                         _MM_FROUND_NO_EXC);
    }
    /// The same for 16 floats.
    static __m512i round16(__m512 f, __m512d inv) {
        const __m256i lo = round8(_mm512_castps512_ps256(f), inv);
        const __m256i hi = round8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)), inv);
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    static float absmax(const float* v, std::size_t n, std::size_t first) {
        __m512 m = _mm512_setzero_ps();
        __mmask16 finite = 0xFFFF;
        for (std::size_t i = 0; i < n; i += 16) {
            const __m512 a = _mm512_abs_ps(_mm512_loadu_ps(v + i));
            m = _mm512_max_ps(m, a);
            finite &= _mm512_cmp_ps_mask(a, _mm512_set1_ps(FLT_MAX), _CMP_LE_OQ);
        }
        if (finite != 0xFFFF) return qamw::detail::finite_absmax(v, n, first);  // throws, naming the first bad element
        return _mm512_reduce_max_ps(m);
    }
    static int q8(const float* v, double inv, std::int8_t* x, std::int8_t* y) {
        const __m512d vinv = _mm512_set1_pd(inv);
        const __m512 f0 = _mm512_loadu_ps(v), f1 = _mm512_loadu_ps(v + 16);
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i qx = round16(_mm512_permutex2var_ps(f0, even, f1), vinv);
        const __m512i qy = round16(_mm512_permutex2var_ps(f0, _mm512_add_epi32(even, _mm512_set1_epi32(1)), f1), vinv);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(x), _mm512_cvtepi32_epi8(qx));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y), _mm512_cvtepi32_epi8(qy));
        return _mm512_reduce_add_epi32(_mm512_add_epi32(qx, qy));
    }
    static void q16(const float* v, std::size_t n, double inv, std::int16_t* q) {
        const __m512d vinv = _mm512_set1_pd(inv);
        for (std::size_t i = 0; i < n; i += 16)
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), _mm512_cvtepi32_epi16(round16(_mm512_loadu_ps(v + i), vinv)));
    }
    /// split_q16a (AVX-512 VBMI: the split q16 kernel sets): per 64 integers a shift or an and and a narrowing to
    /// bytes, then per plane one vpermt2b into block_q16s's pair order.
    template <class A = Arch, std::enable_if_t<std::is_base_of_v<avx512_vnni, A>, int> = 0>
    static void split(const block_q16a& one, block_q16s& out) {
        alignas(64) static constexpr auto order = [] {
            struct t { std::uint8_t c[2][64]; } s{};
            for (std::size_t P = 0; P < q16_block_pairs; ++P)
                for (std::size_t c = 0; c < 2; ++c) s.c[c][P] = static_cast<std::uint8_t>(2 * q16s_pair(P) + c);
            return s;
        }();
        __m512i q[4];
        for (int i = 0; i < 4; ++i) q[i] = _mm512_loadu_si512(one.q + 32 * i);
        auto bytes = [](__m512i a, __m512i b) {  // 64 int16 (|v| < 128) → 64 bytes in order
            return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(a)), _mm512_cvtepi16_epi8(b), 1);
        };
        const __m512i m = _mm512_set1_epi16(127);
        const __m512i h0 = bytes(_mm512_srai_epi16(q[0], 7), _mm512_srai_epi16(q[1], 7));
        const __m512i h1 = bytes(_mm512_srai_epi16(q[2], 7), _mm512_srai_epi16(q[3], 7));
        const __m512i l0 = bytes(_mm512_and_si512(q[0], m), _mm512_and_si512(q[1], m));
        const __m512i l1 = bytes(_mm512_and_si512(q[2], m), _mm512_and_si512(q[3], m));
        for (int c = 0; c < 2; ++c) {
            const __m512i idx = _mm512_load_si512(order.c[c]);
            _mm512_storeu_si512(out.hi[c], _mm512_permutex2var_epi8(h0, idx, h1));
            _mm512_storeu_si512(out.lo[c], _mm512_permutex2var_epi8(l0, idx, l1));
        }
    }
};

/// AVX2 element operations.
template <class Arch>
struct act_avx2 {
    /// round_half_away(double(f[i]) · inv) for 4 floats, as int32 (see the file comment).
    static __m128i round4(__m128 f, __m256d inv) {
        __m256d p = _mm256_mul_pd(_mm256_cvtps_pd(f), inv);
        // The product rounded on its own: no FMA with the add below. GCC (which contracts across statements by
        // default) checks the operand where the template is instantiated; Clang checks it where it is defined and
        // refuses a 256-bit operand in a translation unit built without AVX, so it gets the barrier only with AVX on
        // (Clang's default -ffp-contract=on does not fuse across the intrinsics' inlined bodies).
#if defined(__GNUC__) && (!defined(__clang__) || defined(__AVX__))
        __asm__("" : "+x"(p));
#endif
        const __m256d h = _mm256_or_pd(_mm256_and_pd(p, _mm256_set1_pd(-0.0)), _mm256_set1_pd(below_half));
        return _mm256_cvttpd_epi32(_mm256_add_pd(p, h));
    }
    /// The same for 8 floats.
    static __m256i round8(__m256 f, __m256d inv) {
        return _mm256_set_m128i(round4(_mm256_extractf128_ps(f, 1), inv), round4(_mm256_castps256_ps128(f), inv));
    }
    /// The x (Odd = 0) or y (Odd = 1) coordinates of the 8 pairs in a, b, in order (shufps works within lanes: pairs
    /// 0, 1, 4, 5 | 2, 3, 6, 7, put in order by vpermpd).
    template <int Odd>
    static __m256 coordinate(__m256 a, __m256 b) {
        constexpr int pick = Odd ? _MM_SHUFFLE(3, 1, 3, 1) : _MM_SHUFFLE(2, 0, 2, 0);
        return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, pick)), _MM_SHUFFLE(3, 1, 2, 0)));
    }
    static float absmax(const float* v, std::size_t n, std::size_t first) {
        const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), limit = _mm256_set1_ps(FLT_MAX);
        __m256 m = _mm256_setzero_ps(), finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        for (std::size_t i = 0; i < n; i += 8) {
            const __m256 a = _mm256_and_ps(_mm256_loadu_ps(v + i), magnitude);
            m = _mm256_max_ps(m, a);
            finite = _mm256_and_ps(finite, _mm256_cmp_ps(a, limit, _CMP_LE_OQ));
        }
        if (_mm256_movemask_ps(finite) != 0xFF) return qamw::detail::finite_absmax(v, n, first);  // throws
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
    }
    static int q8(const float* v, double inv, std::int8_t* x, std::int8_t* y) {
        const __m256d vinv = _mm256_set1_pd(inv);
        const __m256 a0 = _mm256_loadu_ps(v), a1 = _mm256_loadu_ps(v + 8), a2 = _mm256_loadu_ps(v + 16),
                     a3 = _mm256_loadu_ps(v + 24);
        const __m256i x0 = round8(coordinate<0>(a0, a1), vinv), x1 = round8(coordinate<0>(a2, a3), vinv);
        const __m256i y0 = round8(coordinate<1>(a0, a1), vinv), y1 = round8(coordinate<1>(a2, a3), vinv);
        // packs work within lanes: dwords x 0–3, x 8–11, y 0–3, y 8–11 | x 4–7, x 12–15, y 4–7, y 12–15 (pairs)
        const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(x0, x1), _mm256_packs_epi32(y0, y1));
        const __m256i xy = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(x), _mm256_castsi256_si128(xy));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y), _mm256_extracti128_si256(xy, 1));
        const __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(x0, x1), _mm256_add_epi32(y0, y1));
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
        return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1))));
    }
    static void q16(const float* v, std::size_t n, double inv, std::int16_t* q) {
        const __m256d vinv = _mm256_set1_pd(inv);
        for (std::size_t i = 0; i < n; i += 16) {
            const __m256i lo = round8(_mm256_loadu_ps(v + i), vinv), hi = round8(_mm256_loadu_ps(v + i + 8), vinv);
            // packs work within lanes: lo 0–3, hi 0–3 | lo 4–7, hi 4–7
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i),
                                _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), _MM_SHUFFLE(3, 1, 2, 0)));
        }
    }
};

}  // namespace qamw::kernels::x86
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

namespace qamw::kernels::arm {

/// AArch64 NEON element operations (a template on the tag, so the neon and neondot translation units never share an
/// instantiation).
template <class Arch>
struct act_neon {
    /// round_half_away(double(f[i]) · inv) for 4 floats, as int32.
    static int32x4_t round4(float32x4_t f, float64x2_t inv) {
        const int64x2_t lo = vcvtaq_s64_f64(vmulq_f64(vcvt_f64_f32(vget_low_f32(f)), inv));
        const int64x2_t hi = vcvtaq_s64_f64(vmulq_f64(vcvt_high_f64_f32(f), inv));
        return vmovn_high_s64(vmovn_s64(lo), hi);
    }
    static float absmax(const float* v, std::size_t n, std::size_t first) {
        float32x4_t m = vdupq_n_f32(0);
        uint32x4_t finite = vdupq_n_u32(~0u);
        for (std::size_t i = 0; i < n; i += 4) {
            const float32x4_t a = vabsq_f32(vld1q_f32(v + i));
            m = vmaxq_f32(m, a);
            finite = vandq_u32(finite, vcleq_f32(a, vdupq_n_f32(FLT_MAX)));
        }
        if (vminvq_u32(finite) == 0) return qamw::detail::finite_absmax(v, n, first);  // throws
        return vmaxvq_f32(m);
    }
    static int q8(const float* v, double inv, std::int8_t* x, std::int8_t* y) {
        const float64x2_t vinv = vdupq_n_f64(inv);
        int32x4_t qx[4], qy[4], s = vdupq_n_s32(0);
        for (int g = 0; g < 4; ++g) {
            const float32x4x2_t f = vld2q_f32(v + 8 * g);  // the x and y of pairs 4g … 4g + 3, apart
            qx[g] = round4(f.val[0], vinv), qy[g] = round4(f.val[1], vinv);
            s = vaddq_s32(s, vaddq_s32(qx[g], qy[g]));
        }
        auto bytes = [](const int32x4_t (&q)[4]) {
            return vmovn_high_s16(vmovn_s16(vmovn_high_s32(vmovn_s32(q[0]), q[1])), vmovn_high_s32(vmovn_s32(q[2]), q[3]));
        };
        vst1q_s8(x, bytes(qx));
        vst1q_s8(y, bytes(qy));
        return vaddvq_s32(s);
    }
    static void q16(const float* v, std::size_t n, double inv, std::int16_t* q) {
        const float64x2_t vinv = vdupq_n_f64(inv);
        for (std::size_t i = 0; i < n; i += 8)
            vst1q_s16(q + i, vmovn_high_s32(vmovn_s32(round4(vld1q_f32(v + i), vinv)), round4(vld1q_f32(v + i + 4), vinv)));
    }
};

}  // namespace qamw::kernels::arm
#endif
