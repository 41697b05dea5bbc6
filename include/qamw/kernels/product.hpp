// qamw/kernels/product.hpp — rotated-domain kernels: codes → codeword rows, fused row · x̃ dot products, and the dense
// tile product the batched GEMM runs on decoded tiles. (The drivers with the math are in qamw/product.hpp.)
//
// Costs per weight (AVX-512): dot_row reads k/8 bytes of codes and 4 bytes of x̃ (L1), does one gather of codes per 8
// pairs, one gather of 8 codeword pairs and one FMA per 16 weights. dot_tile does one FMA per weight per batch row
// with 8 loads per 16 FMAs (4 × 4 register block).
#pragma once

#include <qamw/kernels/lookup.hpp>

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>

namespace qamw::kernels {

template <class Arch>
struct product {
    using batch = xsimd::batch<float, Arch>;
    using L = lookup<Arch>;
    static constexpr std::size_t W = batch::size, G = L::per_group;

    /// out[0, 2·pairs) ← the codeword coordinates of a row of `pairs` k-bit codes (pairs % 8 == 0).
    static void lookup_row(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, float* out) {
        const group_layout g(k);
        batch b[G];
        for (std::size_t p = 0; p < pairs; p += 8) {
            L::group(codes + p / 8 * static_cast<std::size_t>(k), g, table2, b);
            for (std::size_t j = 0; j < G; ++j) b[j].store_unaligned(out + 2 * p + j * W);
        }
    }

    /// Σ_p ⟨codeword(code_p), (xt[2p], xt[2p+1])⟩ over a row of `pairs` codes (pairs % 16 == 0).
    static float dot_row(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, const float* xt) {
        const group_layout g(k);
        const std::size_t kb = static_cast<std::size_t>(k);
        batch acc0[G], acc1[G], b0[G], b1[G];
        for (std::size_t j = 0; j < G; ++j) acc0[j] = batch(0.0f), acc1[j] = batch(0.0f);
        for (std::size_t p = 0; p < pairs; p += 16) {
            L::group(codes + p / 8 * kb, g, table2, b0);
            L::group(codes + p / 8 * kb + kb, g, table2, b1);
            for (std::size_t j = 0; j < G; ++j) {
                acc0[j] = xsimd::fma(b0[j], batch::load_unaligned(xt + 2 * p + j * W), acc0[j]);
                acc1[j] = xsimd::fma(b1[j], batch::load_unaligned(xt + 2 * p + 16 + j * W), acc1[j]);
            }
        }
        batch s = acc0[0] + acc1[0];
        for (std::size_t j = 1; j < G; ++j) s += acc0[j] + acc1[j];
        return xsimd::hadd(s);
    }

    /// y[b·ldy + i] = Σ_{j<n} q[i·ldq + j] · x[b·ldx + j] for i < rows, b < nb (n % W == 0).
    static void dot_tile(const float* q, std::size_t ldq, std::size_t rows, const float* x, std::size_t ldx,
                         std::size_t nb, std::size_t n, float* y, std::size_t ldy) {
        std::size_t i = 0;
        for (; i + 4 <= rows; i += 4) columns<4>(q + i * ldq, ldq, x, ldx, nb, n, y + i, ldy);
        for (; i < rows; ++i) columns<1>(q + i * ldq, ldq, x, ldx, nb, n, y + i, ldy);
    }

private:
    template <std::size_t R>
    static void columns(const float* q, std::size_t ldq, const float* x, std::size_t ldx, std::size_t nb,
                        std::size_t n, float* y, std::size_t ldy) {
        std::size_t b = 0;
        for (; b + 4 <= nb; b += 4) block<R, 4>(q, ldq, x + b * ldx, ldx, n, y + b * ldy, ldy);
        for (; b < nb; ++b) block<R, 1>(q, ldq, x + b * ldx, ldx, n, y + b * ldy, ldy);
    }

    template <std::size_t R, std::size_t C>
    static void block(const float* q, std::size_t ldq, const float* x, std::size_t ldx, std::size_t n, float* y,
                      std::size_t ldy) {
        batch acc[R][C];
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t c = 0; c < C; ++c) acc[r][c] = batch(0.0f);
        for (std::size_t j = 0; j < n; j += W) {
            batch xv[C];
            for (std::size_t c = 0; c < C; ++c) xv[c] = batch::load_unaligned(x + c * ldx + j);
            for (std::size_t r = 0; r < R; ++r) {
                batch qv = batch::load_unaligned(q + r * ldq + j);
                for (std::size_t c = 0; c < C; ++c) acc[r][c] = xsimd::fma(qv, xv[c], acc[r][c]);
            }
        }
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t c = 0; c < C; ++c) y[c * ldy + r] = xsimd::hadd(acc[r][c]);
    }
};

}  // namespace qamw::kernels
