// qamw/kernels/product.hpp — rotated-domain kernels: codes → codeword rows, fused row · x̃ dot products, and the dense
// tile product the batched GEMM runs on decoded tiles. (The drivers with the math are in qamw/engine.hpp.)
//
// Costs per 8 pairs (16 weights) on AVX2 / AVX-512: dot_row reads k bytes of codes (two 64-bit loads) and 64 bytes
// of x̃ (L1), extracts 8 indices (a shift and a mask each), loads 8 codeword pairs (8 loads, 6 shuffles) and does two
// 8-wide FMAs. dot_tile does one FMA per weight per batch row with 8 loads per 16 FMAs (4 × 4 register block).
#pragma once

#include <qamw/kernels/lookup.hpp>

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>

namespace qamw::kernels {

template <class Arch>
struct product {
    using batch = xsimd::batch<float, Arch>;
    static constexpr std::size_t W = batch::size;

    /// out[0, 2·pairs) ← the codeword coordinates of a row of `pairs` k-bit codes (pairs % 8 == 0).
    static void lookup_row(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, float* out) {
        with_bits(k, [&](auto bits) { lookup_row_k<decltype(bits)::value>(codes, pairs, table2, out); });
    }

    /// Σ_p ⟨codeword(code_p), (xt[2p], xt[2p+1])⟩ over a row of `pairs` k-bit codes (pairs % 8 == 0).
    static float dot_row(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, const float* xt) {
        return with_bits(k, [&](auto bits) { return dot_row_k<decltype(bits)::value>(codes, pairs, table2, xt); });
    }

    /// y[b·ldy + i] = Σ_{j<n} q[i·ldq + j] · x[b·ldx + j] for i < rows, b < nb (n % W == 0).
    static void dot_tile(const float* q, std::size_t ldq, std::size_t rows, const float* x, std::size_t ldx,
                         std::size_t nb, std::size_t n, float* y, std::size_t ldy) {
        std::size_t i = 0;
        for (; i + 4 <= rows; i += 4) columns<4>(q + i * ldq, ldq, x, ldx, nb, n, y + i, ldy);
        for (; i < rows; ++i) columns<1>(q + i * ldq, ldq, x, ldx, nb, n, y + i, ldy);
    }

private:
    using L = lookup<Arch>;
    using lb = typename L::batch;
    static constexpr std::size_t G = L::per_group;

    template <int K>
    static void lookup_row_k(const std::uint8_t* codes, std::size_t pairs, const float* table2, float* out) {
        lb b[G];
        for (const std::uint8_t* end = codes + pairs / 8 * K; codes != end; codes += K, out += 16) {
            L::template group<K>(codes, table2, b);
            for (std::size_t j = 0; j < G; ++j) b[j].store_unaligned(out + j * L::W);
        }
    }

    template <int K>
    static float dot_row_k(const std::uint8_t* codes, std::size_t pairs, const float* table2, const float* xt) {
        lb acc[G], b[G];
        for (std::size_t j = 0; j < G; ++j) acc[j] = lb(0.0f);
        for (const std::uint8_t* end = codes + pairs / 8 * K; codes != end; codes += K, xt += 16) {
            L::template group<K>(codes, table2, b);
            for (std::size_t j = 0; j < G; ++j) acc[j] = xsimd::fma(b[j], lb::load_unaligned(xt + j * L::W), acc[j]);
        }
        for (std::size_t j = 1; j < G; ++j) acc[0] += acc[j];
        return xsimd::hadd(acc[0]);
    }

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
