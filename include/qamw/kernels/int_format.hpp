// qamw/kernels/int_format.hpp — the integer-domain operands of the fused product: the quantized activation formats,
// the integer codebook tables derived from the shipped float tables, and the scalar reference of every integer kernel
// (kernels/int_product.hpp holds the SIMD kernels; qamw/engine.hpp the driver: quantize_activation, int_dot_rows,
// int_gemm_rows).
//
// Math. The fused GEMV computes ⟨ĉ, x̃⟩ = Σ_p ⟨c(code_p), (x̃[2p], x̃[2p+1])⟩ (qamw/engine.hpp). The integer paths
// replace both operands by integers with float scales and sum exactly in int32:
//     c(i) ≈ s_c · (cx_i, cy_i)                      one scale per table (int_codebook)
//     (x̃[2p], x̃[2p+1]) ≈ d_b · (ax_p, ay_p)          one scale per block b (q8: 16 pairs, q16: 64 pairs)
//     ⟨ĉ, x̃⟩ ≈ s_c · Σ_b d_b · Σ_{p ∈ b} (cx·ax + cy·ay)     (inner sum exact in int32, outer sum in float)
// (n_pad % 32 == 0, so a row has a multiple of 16 pairs; a q16 row's last block may hold 16, 32 or 48 of them.)
//
// Two formats, chosen per k by measured accuracy (docs/PERFORMANCE.md "Integer kernels"), and q16's split form:
//   q8  (k ≤ 8): codewords int8, |c| ≤ 127 (s_c = max|coordinate| / 127), activations int8, |a| ≤ 127 (d_b = max|x̃| over
//        the block / 127). Extra squared error per coordinate ≤ s_c²/12 + d_b²/12-ish on average; at k = 8 s_c = 0.027,
//        s_c²/12 = 6.1e-5, 0.8 % of the codebook's own MSE (0.0078); at k = 7 0.4 %.
//   q16 (any k, used for k ≥ 9): codewords int16, |c| ≤ q16_code_max = 2047 (11 bits), activations int16 with one
//        scale per 64 pairs (128 floats), |a| ≤ q16_act_max = 4095 (12 bits): |cx·ax + cy·ay| ≤ 2·2047·4095 < 2^24 per
//        pair, < 2^30 per block of 64 pairs, so no int32 sum (nor a SIMD lane's partial sum) can overflow. The long
//        blocks halve the kernels' float work per weight against 16-pair blocks (one convert + FMA per 64 pairs and
//        accumulator), which is what bounds the register-blocked GEMM (kernels/int_product.hpp). Codeword rounding
//        s_c²/12 per coordinate (s_c = max|coordinate| / 2047 = 0.0018 at k = 9, 0.0021 at k = 11) is 7e-5 (k = 9),
//        4e-4 (k = 11), 8e-4 (k = 12) of the codebook's own MSE per coordinate on Gaussian input. The ranges were
//        chosen against |c| ≤ 8191 with |a| ≤ 1023 and |c| ≤ 4095 with |a| ≤ 2047 by the measured error of the row
//        dot (docs/PERFORMANCE.md "Integer kernels").
//   split q16 (d8 codebooks on their grid, k = 9…11, where the kernel set has dot_rows_q16s): q16's integers and
//        scales, each activation split into bytes q = 128·hi + lo (block_q16s), the codebook's grid integers exact
//        (|c| ≤ 255, no codeword rounding: make_int_codebook), and the codes re-laid once per tensor in the split
//        layout (split_codes: low bytes in the kernel's lane order, high bits as masks); the sums are q16's.
//
// Error bound (what tests/test_int_kernels.cpp checks against the exact f32 dot, per row): with |Δc| ≤ s_c/2 per
// coordinate and |Δa| ≤ d_b/2,
//     |int − exact| ≤ Σ_p Σ_coord ( s_c/2 · |x̃| + |c| · d_b/2 + s_c · d_b / 4 )  + float summation slack,
// and the SIMD kernels agree with the scalar references here to float rounding of the outer sum (relative 1e-6 of
// Σ_b d_b · Σ_p |terms|).
//
// Rounding is round-half-away-from-zero of a double product (std::lround for the tables, the same function computed
// inline for the activations: detail::round_half_away), so tables and activations are bit-identical on every ISA and
// compiler. A NaN or Inf in the activation is refused (errc::non_finite naming the element): it has
// no integer image, where the f32 path would carry it into the products.
//
// The activation quantizers (quantize_q8a, quantize_q16a) run once per product, serially before the row kernels
// share the rows out, so their speed matters: their block loop (detail::quantize_q8a_with / quantize_q16a_with) takes
// the per-element operations as a parameter, the scalar ones here (detail::scalar_act) or the SIMD ones of
// kernels/int_quantize.hpp (AVX2, AVX-512, NEON), which give the same bytes, scales and bias bit for bit; the kernel
// sets hand them out as quantize_q8a / quantize_q16a (kernels/table.hpp), and quantize_activation calls those.
#pragma once

#include <qamw/codebooks/family.hpp>
#include <qamw/error.hpp>
#include <qamw/stages/packer.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

namespace qamw {

/// Pairs per q8 activation scale (32 floats: the n_pad granularity).
inline constexpr std::size_t int_scale_pairs = 16;
/// Pairs per q16 activation block and scale (128 floats).
inline constexpr std::size_t q16_block_pairs = 64;
/// The q16 ranges: |codeword coordinate| ≤ q16_code_max, |activation| ≤ q16_act_max (2·2047·4095·64 < 2^31).
inline constexpr int q16_code_max = 2047, q16_act_max = 4095;
static_assert(2.0 * q16_code_max * q16_act_max * q16_block_pairs < 2147483648.0, "a q16 block's int32 sum cannot overflow");

/// q8 activation block: 64 pairs, 144 bytes (18 bits per activation element). x̃[2p] ≈ d[p/16] · x[p],
/// x̃[2p+1] ≈ d[p/16] · y[p] for the block's pairs p ∈ [0, 64); pairs past the row's end are 0 (x = y = 0, d = 0).
/// The x and y coordinates are stored apart, 64 bytes each: one 512-bit load per coordinate.
struct block_q8a {
    float d[4];         ///< scale of pairs [16j, 16j + 16)
    std::int8_t x[64];  ///< lround(x̃[2p] / d), |x| ≤ 127
    std::int8_t y[64];  ///< lround(x̃[2p + 1] / d), |y| ≤ 127
};
static_assert(sizeof(block_q8a) == 144, "block_q8a: 4 scales + 64 + 64 bytes");

/// q16 activation block: 64 pairs, 320 bytes (20 bits per element). x̃[2p + c] ≈ d · q[2p + c], c ∈ {0, 1}: the
/// coordinates interleaved like the int16 codeword pairs, so one multiply-add of int16 pairs gives a pair's dot. The
/// scale has a 64-byte line of its own, so q is as aligned as the block (four 512-bit loads); pairs past the row's end
/// are 0.
struct block_q16a {
    float d;                 ///< scale of the block's 128 floats
    std::uint8_t zero[60];   ///< 0 (alignment of q)
    std::int16_t q[128];     ///< lround(x̃ / d), |q| ≤ q16_act_max
};
static_assert(sizeof(block_q16a) == 320 && offsetof(block_q16a, q) == 64, "block_q16a: a scale line + 128 int16");

/// q16 activation block split into bytes for the d8 kernels (x86::q16_d8): the same 64 pairs, scale and integers as
/// block_q16a, each q = 128 · hi + lo with hi = q >> 7 (floor, |hi| ≤ 32) and lo = q & 127, in byte planes: plane[c]
/// holds coordinate c (0: x, 1: y), byte P of a plane holds pair q16s_pair(P) of the block (the order in which the
/// kernel's 32-bit lanes sum the pairs ≡ l mod 8 that block_q16a's 8-lane kernels sum; tail pairs past the row are 0).
/// 320 bytes, like block_q16a, so the activation scratch has one size.
struct block_q16s {
    float d;                 ///< the q16a block's scale
    std::uint8_t zero[60];   ///< 0 (alignment of the planes)
    std::int8_t hi[2][64];   ///< q >> 7 of coordinate c at byte P
    std::int8_t lo[2][64];   ///< q & 127 likewise
};
static_assert(sizeof(block_q16s) == 320 && offsetof(block_q16s, hi) == 64, "block_q16s: a scale line + 4 byte planes");

/// The pair of a block_q16s plane's byte P: lane L = P / 4 of the kernel's 32-bit lanes sums pairs L mod 8 + 8·(j +
/// 4·(L / 8)), j = P % 4, so lanes l and l + 8 together hold the pairs ≡ l mod 8.
constexpr std::size_t q16s_pair(std::size_t P) { return (P / 4) % 8 + 8 * (P % 4 + 4 * (P / 32)); }

/// The split layout of a row of k-bit codes (9 ≤ k ≤ 11; the operand of the split q16 kernels, made once per tensor by
/// split_codes from the packed codes): the row's pairs in chunks of 64, the last one completed with code 0, each chunk
/// 8k bytes: 64 bytes holding bits 0…7 of the codes, byte P that of the chunk's pair q16s_pair(P), then k − 8 little-
/// endian 64-bit masks, bit P of mask t holding bit 8 + t of that code. So the kernel loads the low bytes in its lane
/// order and the high bits as mask registers (for a d8 code s·2^(k−3) + b: b and s's low 11 − k bits in the byte, the
/// rest of s in the masks), with no bit extraction. Bytes of a row: split_row_bytes.
constexpr std::size_t split_row_bytes(std::size_t pairs, int k) {
    return (pairs + q16_block_pairs - 1) / q16_block_pairs * 8 * static_cast<std::size_t>(k);
}

/// Code p of a row in the split layout.
inline std::uint16_t split_code(const std::uint8_t* row, std::size_t p, int k) {
    const std::size_t c = p / q16_block_pairs, i = p % q16_block_pairs;
    const std::size_t P = 32 * (i / 32) + 4 * (i % 8) + (i / 8) % 4;  // q16s_pair(P) == i
    const std::uint8_t* chunk = row + c * 8 * static_cast<std::size_t>(k);
    unsigned code = chunk[P];
    for (int t = 0; t < k - 8; ++t) code |= ((chunk[64 + 8 * t + P / 8] >> (P % 8)) & 1u) << (8 + t);
    return static_cast<std::uint16_t>(code);
}

/// out[0, split_row_bytes(pairs, k)) ← the row of `pairs` packed k-bit codes (stages/packer.hpp) in the split layout.
inline void split_codes(const std::uint8_t* packed, std::size_t pairs, int k, std::uint8_t* out) {
    if (k < 9 || k > 11) throw error(errc::invalid_argument, "split_codes: k in [9, 11], not " + std::to_string(k));
    std::memset(out, 0, split_row_bytes(pairs, k));
    for (std::size_t c = 0; c * q16_block_pairs < pairs; ++c) {
        std::uint8_t* chunk = out + c * 8 * static_cast<std::size_t>(k);
        for (std::size_t P = 0; P < q16_block_pairs; ++P) {
            const std::size_t p = c * q16_block_pairs + q16s_pair(P);
            const unsigned code = p < pairs ? ref::unpack_one(packed, p, k) : 0u;
            chunk[P] = static_cast<std::uint8_t>(code & 0xffu);
            for (int t = 0; t < k - 8; ++t) chunk[64 + 8 * t + P / 8] |= static_cast<std::uint8_t>(((code >> (8 + t)) & 1u) << (P % 8));
        }
    }
}

/// q8 blocks for a row of `pairs` pairs.
constexpr std::size_t q8a_blocks(std::size_t pairs) { return (pairs + 63) / 64; }
/// q16 blocks for a row of `pairs` pairs.
constexpr std::size_t q16a_blocks(std::size_t pairs) { return (pairs + q16_block_pairs - 1) / q16_block_pairs; }

/// Integer codebook of one k, derived deterministically from the shipped float table (make_int_codebook). 18 KiB,
/// caller-owned; nothing is built implicitly.
struct int_codebook {
    int k = 0;
    bool d8 = false;             ///< a d8 table on its grid (make_int_codebook): xy16 exact, d8_planes filled
    float s16 = 0;               ///< q16 scale: codeword i ≈ s16 · (xy16[2i], xy16[2i + 1])
    float s8 = 0;                ///< q8 scale: codeword i ≈ s8 · (ux8[i] − 128, uy8[i] − 128) (k ≤ 8)
    alignas(64) std::int16_t xy16[2 * 4096];  ///< |·| ≤ q16_code_max, interleaved: entry i is one 32-bit word (x low, y high)
    alignas(64) std::uint8_t ux8[256];        ///< x + 128, periodic: ux8[i] = ux8[i mod 2^k] (k ≤ 8, else 0)
    alignas(64) std::uint8_t uy8[256];        ///< y + 128, periodic likewise
    /// d8: base point b's coordinates on the grid, x in [0][b], y in [1][b] (1 … 255), periodic in b (index b mod
    /// 2^(k−3)); else 0.
    alignas(64) std::uint8_t d8_planes[2][256];
};

/// Fills cb from the interleaved float table of 2^k codewords (table2[2i], table2[2i + 1] = codeword i).
///
/// d8_grid > 0: the table is of the d8 family (codebooks/d8.hpp: code c = s·2^(k−3) + b is T_s of base point b, T_s =
/// swap x and y if s & 4, then negate x if s & 1, y if s & 2) and lies on the grid d8_grid · {−255 … 255}: then s16 =
/// d8_grid and xy16 are the grid integers, exactly (the integer path adds no codeword rounding), and d8_planes holds
/// the base for the register lookups of x86::q16_d8. A table that is not (a coordinate off the grid, a base coordinate
/// outside 1 … 255, a codeword other than T_s of its base point) is errc::format.
inline void make_int_codebook(const float* table2, int k, int_codebook& cb, float d8_grid = 0) {
    const std::size_t n = std::size_t{1} << k;
    double m = 0;
    for (std::size_t i = 0; i < 2 * n; ++i) m = std::max(m, std::fabs(double(table2[i])));
    if (m == 0) m = 1;
    cb.k = k;
    cb.d8 = d8_grid > 0;
    cb.s16 = cb.d8 ? d8_grid : static_cast<float>(m / q16_code_max);
    const double scale = cb.d8 ? 1.0 / double(d8_grid) : q16_code_max / m;
    for (std::size_t i = 0; i < 2 * 4096; ++i)
        cb.xy16[i] = i < 2 * n ? static_cast<std::int16_t>(std::lround(double(table2[i]) * scale)) : 0;
    std::memset(cb.d8_planes, 0, sizeof cb.d8_planes);
    if (cb.d8) {
        auto fail = [&](std::size_t c, const char* rule) {
            throw error(errc::format, "make_int_codebook: codeword " + std::to_string(c) + " of the k = " + std::to_string(k) +
                                          " d8 table " + rule);
        };
        if (k < 4 || k > 11) throw error(errc::invalid_argument, "make_int_codebook: a d8 table has k in [4, 11], not " + std::to_string(k));
        const std::size_t nb = n / 8;
        for (std::size_t c = 0; c < n; ++c) {
            for (int j = 0; j < 2; ++j)
                if (double(table2[2 * c + j]) != double(d8_grid) * cb.xy16[2 * c + j] || std::abs(cb.xy16[2 * c + j]) > 255)
                    fail(c, "is not on the grid (a multiple of the grid step, at most 255 steps)");
            const std::size_t s = c / nb, b = c % nb;
            std::int16_t x = cb.xy16[2 * b], y = cb.xy16[2 * b + 1];
            if (x < 1 || y < 1) fail(b, "is a base point with a coordinate below one grid step");
            d8_transform(int(s), x, y);
            if (cb.xy16[2 * c] != x || cb.xy16[2 * c + 1] != y) fail(c, "is not T_s of its base point");
        }
        for (std::size_t i = 0; i < 256; ++i)
            for (int j = 0; j < 2; ++j) cb.d8_planes[j][i] = static_cast<std::uint8_t>(cb.xy16[2 * (i % nb) + j]);
    }
    cb.s8 = k <= 8 ? static_cast<float>(m / 127.0) : 0.0f;
    for (std::size_t i = 0; i < 256; ++i) {
        const std::size_t j = i % n;
        cb.ux8[i] = k <= 8 ? static_cast<std::uint8_t>(128 + std::lround(double(table2[2 * j]) * (127.0 / m))) : 0;
        cb.uy8[i] = k <= 8 ? static_cast<std::uint8_t>(128 + std::lround(double(table2[2 * j + 1]) * (127.0 / m))) : 0;
    }
}

namespace detail {
/// max |v[i]| over i < n; throws errc::non_finite naming x̃[first + i] for the first NaN or Inf.
inline float finite_absmax(const float* v, std::size_t n, std::size_t first) {
    float m = 0;
    bool finite = true;
    for (std::size_t i = 0; i < n; ++i) {
        const float a = std::fabs(v[i]);
        m = std::max(m, a);
        finite &= a <= FLT_MAX;  // false for NaN and Inf
    }
    if (!finite)
        for (std::size_t i = 0; i < n; ++i)
            if (!(std::fabs(v[i]) <= FLT_MAX))
                throw error(errc::non_finite, "integer path: rotated activation xt[" + std::to_string(first + i) + "] is " +
                                                  (std::isnan(v[i]) ? "NaN" : "Inf") + " (the activation must be finite)");
    return m;
}

/// std::lround(v) for |v| < 2^31, exactly (round half away from zero), without a library call or a branch: the
/// truncation and v − trunc(v) are exact in double. The activation quantizers call it once per element of every product.
inline int round_half_away(double v) {
    const int i = static_cast<int>(v);
    const double r = v - static_cast<double>(i);
    return i + int(r >= 0.5) - int(r <= -0.5);
}

/// The scalar element operations of the activation quantizers (the references' own; the SIMD forms of the same three
/// operations, with the same bits: kernels/int_quantize.hpp). n % 32 == 0 wherever a SIMD form runs.
struct scalar_act {
    /// max |v[i]| over i < n; throws errc::non_finite naming x̃[first + i] for the first NaN or Inf.
    static float absmax(const float* v, std::size_t n, std::size_t first) { return finite_absmax(v, n, first); }
    /// x[l] = round(v[2l] · inv), y[l] = round(v[2l + 1] · inv) for the 16 pairs at v; returns Σ_l (x[l] + y[l]).
    static int q8(const float* v, double inv, std::int8_t* x, std::int8_t* y) {
        int s = 0;
        for (std::size_t l = 0; l < 16; ++l) {
            const int qx = round_half_away(double(v[2 * l]) * inv), qy = round_half_away(double(v[2 * l + 1]) * inv);
            x[l] = static_cast<std::int8_t>(qx), y[l] = static_cast<std::int8_t>(qy);
            s += qx + qy;
        }
        return s;
    }
    /// q[i] = round(v[i] · inv) for i < n.
    static void q16(const float* v, std::size_t n, double inv, std::int16_t* q) {
        for (std::size_t i = 0; i < n; ++i) q[i] = static_cast<std::int16_t>(round_half_away(double(v[i]) * inv));
    }
};

/// quantize_q8a on the element operations E (scalar_act or a SIMD form): the block loop, the scales and the bias's
/// double sum in block order are E's only context, so every E that gives scalar_act's elements gives its bits.
template <class E>
float quantize_q8a_with(const float* xt, std::size_t pairs, block_q8a* out) {
    double bias = 0;
    for (std::size_t b = 0; b < q8a_blocks(pairs); ++b) {
        block_q8a& blk = out[b];
        for (std::size_t j = 0; j < 4; ++j) {
            const std::size_t p0 = b * 64 + j * 16;
            if (p0 >= pairs) {
                blk.d[j] = 0;
                std::fill(blk.x + j * 16, blk.x + j * 16 + 16, std::int8_t{0});
                std::fill(blk.y + j * 16, blk.y + j * 16 + 16, std::int8_t{0});
                continue;
            }
            const float m = E::absmax(xt + 2 * p0, 32, 2 * p0);
            const double inv = m > 0 ? 127.0 / m : 0.0;
            blk.d[j] = static_cast<float>(m / 127.0);
            const int s = E::q8(xt + 2 * p0, inv, blk.x + j * 16, blk.y + j * 16);
            bias += 128.0 * double(blk.d[j]) * double(s);
        }
    }
    return static_cast<float>(bias);
}

/// quantize_q16a on the element operations E (see quantize_q8a_with).
template <class E>
void quantize_q16a_with(const float* xt, std::size_t pairs, block_q16a* out) {
    for (std::size_t b = 0; b < q16a_blocks(pairs); ++b) {
        const std::size_t n = 2 * std::min(q16_block_pairs, pairs - b * q16_block_pairs);
        const float* v = xt + 2 * q16_block_pairs * b;
        const float m = E::absmax(v, n, 2 * q16_block_pairs * b);
        const double inv = m > 0 ? q16_act_max / double(m) : 0.0;
        out[b].d = static_cast<float>(m / double(q16_act_max));
        std::fill(std::begin(out[b].zero), std::end(out[b].zero), std::uint8_t{0});
        E::q16(v, n, inv, out[b].q);
        std::fill(out[b].q + n, out[b].q + 2 * q16_block_pairs, std::int16_t{0});
    }
}

/// The byte planes of block_q16s from a q16a block's integers: byte P of plane c from q[2·q16s_pair(P) + c], hi = q >> 7
/// (floor), lo = q & 127.
inline void split_q16a(const block_q16a& one, block_q16s& out) {
    for (std::size_t P = 0; P < q16_block_pairs; ++P)
        for (std::size_t c = 0; c < 2; ++c) {
            const int q = one.q[2 * q16s_pair(P) + c];
            out.hi[c][P] = static_cast<std::int8_t>(q >> 7);  // arithmetic shift: floor (C++20; every target here)
            out.lo[c][P] = static_cast<std::int8_t>(q & 127);
        }
}

/// Whether the element operations E have their own split (E::split, split_q16a's bytes).
template <class E, class = void>
struct has_split : std::false_type {};
template <class E>
struct has_split<E, std::void_t<decltype(E::split(std::declval<const block_q16a&>(), std::declval<block_q16s&>()))>>
    : std::true_type {};

/// quantize_q16s on the element operations E: quantize_q16a_with's block, then its split into byte planes (E::split
/// where E has one, else split_q16a); the q16a block also into q16[b] where q16 is not null.
template <class E>
void quantize_q16s_with(const float* xt, std::size_t pairs, block_q16s* out, block_q16a* q16) {
    for (std::size_t b = 0; b < q16a_blocks(pairs); ++b) {
        const std::size_t n = std::min(q16_block_pairs, pairs - b * q16_block_pairs);
        block_q16a one;
        quantize_q16a_with<E>(xt + 2 * q16_block_pairs * b, n, &one);
        out[b].d = one.d;
        std::fill(std::begin(out[b].zero), std::end(out[b].zero), std::uint8_t{0});
        if constexpr (has_split<E>::value) E::split(one, out[b]);
        else split_q16a(one, out[b]);
        if (q16) q16[b] = one;
    }
}
}  // namespace detail

/// Quantizes the rotated activation xt[0, 2·pairs) (pairs % 16 == 0, all finite) into q8a_blocks(pairs) blocks: per
/// 16 pairs d = max|x̃| / 127 (a float), each element round_half_away(double(x̃) · (127.0 / max)). Returns the bias
/// 128 · Σ_b d_b · Σ_{p ∈ b} (x_p + y_p) that the offset-unsigned codewords of int_codebook::ux8 / uy8 add to a row's
/// sum (the kernels subtract it), summed in double in block order. The scalar reference; the kernel sets' quantize_q8a
/// (kernels/table.hpp; SIMD on AVX2, AVX-512 and NEON: kernels/int_quantize.hpp) give the same bytes and bias.
inline float quantize_q8a(const float* xt, std::size_t pairs, block_q8a* out) {
    return detail::quantize_q8a_with<detail::scalar_act>(xt, pairs, out);
}

/// Quantizes xt[0, 2·pairs) (all finite) into q16a_blocks(pairs) blocks: per 64 pairs d = max|x̃| / q16_act_max,
/// each element round_half_away(double(x̃) · (q16_act_max / double(max))); the last block's pairs past the row are 0.
/// The scalar reference (any pairs); the kernel sets' quantize_q16a (pairs % 16 == 0) give the same bytes.
inline void quantize_q16a(const float* xt, std::size_t pairs, block_q16a* out) {
    detail::quantize_q16a_with<detail::scalar_act>(xt, pairs, out);
}

/// quantize_q16a's integers and scales in block_q16s's split layout (q16a_blocks(pairs) blocks): the d8 kernels'
/// activation; where q16 is not null, also quantize_q16a's blocks into it (the batched products' form, at the cost of
/// a copy). The scalar reference; the kernel sets' quantize_q16s give the same bytes.
inline void quantize_q16s(const float* xt, std::size_t pairs, block_q16s* out, block_q16a* q16 = nullptr) {
    detail::quantize_q16s_with<detail::scalar_act>(xt, pairs, out, q16);
}

namespace ref {

/// q8 path: y[r] = s8 · Σ_b d_b · Σ_{p ∈ b} (cx·ax + cy·ay), for rows r < rows of `pairs` k-bit codes (k ≤ 8) at
/// codes + r·stride; the inner sums exact in int32, the outer in double. `bias` is unused here (the SIMD kernels
/// sum offset codewords and subtract it).
inline void dot_rows_q8(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                        const int_codebook& cb, const block_q8a* a, float /*bias*/, float* y) {
    for (std::size_t r = 0; r < rows; ++r) {
        const std::uint8_t* c = codes + r * stride;
        double s = 0;
        for (std::size_t p0 = 0; p0 < pairs; p0 += 16) {
            const block_q8a& blk = a[p0 / 64];
            std::int32_t t = 0;
            for (std::size_t p = p0; p < p0 + 16; ++p) {
                const std::uint16_t i = unpack_one(c, p, k);
                t += (int(cb.ux8[i]) - 128) * blk.x[p % 64] + (int(cb.uy8[i]) - 128) * blk.y[p % 64];
            }
            s += double(blk.d[(p0 % 64) / 16]) * t;
        }
        y[r] = static_cast<float>(double(cb.s8) * s);
    }
}

/// s16 · Σ_b d_b · Σ_{p ∈ b} (cx·ax + cy·ay) of one row whose pair p has the int16 codeword at word(p) (x, y): inner
/// sums exact, outer in double.
template <class Word>
float q16_row(Word&& word, std::size_t pairs, const int_codebook& cb, const block_q16a* a) {
    double s = 0;
    for (std::size_t b = 0; b < q16a_blocks(pairs); ++b) {
        std::int32_t t = 0;
        for (std::size_t l = 0; l < std::min(q16_block_pairs, pairs - b * q16_block_pairs); ++l) {
            const std::int16_t* c = word(q16_block_pairs * b + l);
            t += c[0] * a[b].q[2 * l] + c[1] * a[b].q[2 * l + 1];
        }
        s += double(a[b].d) * t;
    }
    return static_cast<float>(double(cb.s16) * s);
}

/// q16 path: y[r] = s16 · Σ_b d_b · Σ_{p ∈ b} (cx·ax + cy·ay), any k; inner sums exact, outer in double.
inline void dot_rows_q16(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                         const int_codebook& cb, const block_q16a* a, float* y) {
    for (std::size_t r = 0; r < rows; ++r) {
        const std::uint8_t* c = codes + r * stride;
        y[r] = q16_row([&](std::size_t p) { return cb.xy16 + 2 * unpack_one(c, p, k); }, pairs, cb, a);
    }
}

/// The q16 path on the split activation (block_q16s) and the codes in the split layout (split_codes; rows `stride`
/// bytes apart): dot_rows_q16's sums and floats on the packed codes, bit for bit.
inline void dot_rows_q16s(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                          const int_codebook& cb, const block_q16s* a, float* y) {
    for (std::size_t r = 0; r < rows; ++r) {
        const std::uint8_t* c = codes + r * stride;
        double s = 0;
        for (std::size_t b = 0; b < q16a_blocks(pairs); ++b) {
            std::int32_t t = 0;
            for (std::size_t P = 0; P < q16_block_pairs; ++P) {
                const std::size_t p = b * q16_block_pairs + q16s_pair(P);
                if (p >= pairs) continue;
                const std::int16_t* w = cb.xy16 + 2 * split_code(c, p, k);
                t += w[0] * (128 * a[b].hi[0][P] + a[b].lo[0][P]) + w[1] * (128 * a[b].hi[1][P] + a[b].lo[1][P]);
            }
            s += double(a[b].d) * t;
        }
        y[r] = static_cast<float>(double(cb.s16) * s);
    }
}

/// q16 words of a row: out[p] = the 32-bit table entry of code p (int_codebook::xy16: x in the low half, y in the
/// high half), for p < pairs.
inline void lookup_q16(const std::uint8_t* codes, std::size_t pairs, int k, const int_codebook& cb, std::int32_t* out) {
    for (std::size_t p = 0; p < pairs; ++p) std::memcpy(out + p, cb.xy16 + 2 * unpack_one(codes, p, k), 4);
}

/// The q16 activation j of m whose blocks start a_stride bytes after those of activation j − 1.
inline const block_q16a* q16_activation(const block_q16a* a, std::size_t a_stride, std::size_t j) {
    return reinterpret_cast<const block_q16a*>(reinterpret_cast<const unsigned char*>(a) + j * a_stride);
}

/// The q16 path from looked-up words (lookup_q16), batched: y[j·ldy + r] as dot_rows_q16 gives it for rows r < rows
/// whose words start at words + r·ldw, against activations j < m (q16_activation(a, a_stride, j)).
inline void dot_words_q16(const std::int32_t* words, std::size_t ldw, std::size_t rows, std::size_t pairs,
                          const int_codebook& cb, const block_q16a* a, std::size_t a_stride, std::size_t m, float* y,
                          std::size_t ldy) {
    for (std::size_t j = 0; j < m; ++j)
        for (std::size_t r = 0; r < rows; ++r) {
            const std::int32_t* w = words + r * ldw;
            std::int16_t c[2];
            y[j * ldy + r] = q16_row([&](std::size_t p) { return std::memcpy(c, w + p, 4), static_cast<const std::int16_t*>(c); },
                                     pairs, cb, q16_activation(a, a_stride, j));
        }
}

}  // namespace ref
}  // namespace qamw
