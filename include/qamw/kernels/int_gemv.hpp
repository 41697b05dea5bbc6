// qamw/kernels/int_gemv.hpp — driver of the integer-domain fused products (kernels/int_product.hpp): quantize the
// rotated activation once, then run the row kernels of one kernel table over a range of rows. Raw pointers and
// caller-provided scratch only; never allocates, never starts threads (callers split rows [r0, r1) over theirs).
//
// Path per k: q8 (int8 codewords and activations) when k ≤ 8 and the table has a q8 kernel (avx512vnni), else q16.
//   y_i = r̂_i · ⟨ĉ_i, x̃⟩  with ⟨ĉ_i, x̃⟩ from the integer kernel (error bound in kernels/int_format.hpp).
#pragma once

#include <qamw/kernels/int_format.hpp>
#include <qamw/kernels/lookup.hpp>
#include <qamw/kernels/table.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace qamw {

/// One quantized activation row (views into caller scratch).
struct int_activation {
    const block_q8a* q8 = nullptr;    ///< set on the q8 path
    const block_q16a* q16 = nullptr;  ///< set on the q16 path
    float bias = 0;                   ///< q8 only (quantize_q8a)
};

/// Whether the table runs k on the q8 path.
inline bool int_uses_q8(const kernel_table& t, int k) { return k <= 8 && t.dot_rows_q8 != nullptr; }

/// Scratch bytes for one quantized activation row of `pairs` pairs (either path), 64-byte multiple.
constexpr std::size_t int_activation_bytes(std::size_t pairs) {
    const std::size_t a = q8a_blocks(pairs) * sizeof(block_q8a), b = q16a_blocks(pairs) * sizeof(block_q16a);
    return ((a > b ? a : b) + 63) / 64 * 64;
}

/// Quantizes xt[0, 2·pairs) (pairs % 16 == 0) for the path of (t, k) into scratch (int_activation_bytes(pairs)
/// bytes, 4-byte aligned).
inline int_activation quantize_activation(const kernel_table& t, int k, const float* xt, std::size_t pairs,
                                          void* scratch) {
    int_activation a;
    if (int_uses_q8(t, k)) {
        auto* b = static_cast<block_q8a*>(scratch);
        a.bias = quantize_q8a(xt, pairs, b);
        a.q8 = b;
    } else {
        auto* b = static_cast<block_q16a*>(scratch);
        quantize_q16a(xt, pairs, b);
        a.q16 = b;
    }
    return a;
}

/// y[i] = norms[i] · ⟨ĉ_i, x̃⟩ for rows i < rows of `pairs` k-bit codes at codes + i·row_bytes. `readable_after`:
/// bytes readable past the last row's codes; when fewer than kernels::overread, the last row is copied to `tail`
/// (row_bytes + kernels::overread bytes of caller scratch). norms may be null (then y holds the plain dots).
inline void int_gemv_rows(const kernel_table& t, const std::uint8_t* codes, std::size_t row_bytes, std::size_t rows,
                          std::size_t pairs, int k, const int_codebook& cb, const int_activation& a, const float* norms,
                          float* y, std::size_t readable_after, std::uint8_t* tail) {
    auto run = [&](const std::uint8_t* c, std::size_t n, float* out) {
        if (a.q8) t.dot_rows_q8(c, row_bytes, n, pairs, k, cb, a.q8, a.bias, out);
        else t.dot_rows_q16(c, row_bytes, n, pairs, k, cb, a.q16, out);
    };
    if (rows == 0) return;
    const bool copy_last = readable_after < kernels::overread;
    const std::size_t direct = copy_last ? rows - 1 : rows;
    run(codes, direct, y);
    if (copy_last) {
        std::memcpy(tail, codes + direct * row_bytes, row_bytes);
        std::memset(tail + row_bytes, 0, kernels::overread);
        run(tail, 1, y + direct);
    }
    if (norms)
        for (std::size_t i = 0; i < rows; ++i) y[i] *= norms[i];
}

/// Rows per tile of int_gemm_rows: their codes (≤ 48 KiB at 4096 columns, k = 12) stay in L1/L2 while every
/// activation row runs over them.
inline constexpr std::size_t int_gemm_tile = 16;

/// y[b·ldy + i] = norms[i] · ⟨ĉ_i, x̃_b⟩ for rows i < rows and m quantized activation rows acts[b]. Tiled: each tile
/// of int_gemm_tile rows' codes is read from memory once and reused from cache for all m activation rows (the lookups
/// are redone per activation row: register-resident tables make them a few instructions per 64 pairs).
inline void int_gemm_rows(const kernel_table& t, const std::uint8_t* codes, std::size_t row_bytes, std::size_t rows,
                          std::size_t pairs, int k, const int_codebook& cb, const int_activation* acts, std::size_t m,
                          const float* norms, float* y, std::size_t ldy, std::size_t readable_after,
                          std::uint8_t* tail) {
    for (std::size_t i0 = 0; i0 < rows; i0 += int_gemm_tile) {
        const std::size_t n = std::min(int_gemm_tile, rows - i0);
        const std::size_t after = i0 + n == rows ? readable_after : row_bytes;
        for (std::size_t b = 0; b < m; ++b)
            int_gemv_rows(t, codes + i0 * row_bytes, row_bytes, n, pairs, k, cb, acts[b], norms ? norms + i0 : nullptr,
                          y + b * ldy + i0, after, tail);
    }
}

}  // namespace qamw
