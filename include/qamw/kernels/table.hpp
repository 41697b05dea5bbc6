// qamw/kernels/table.hpp — the set of hot-loop kernels of one instruction set, as plain function pointers.
//
// make_kernel_table<Arch>() instantiates every kernel for one xsimd architecture. It is included by the per-ISA
// translation units of the qamw::dispatch library (src/isa_*.cpp, each compiled with its -m flags) and, in header-only
// use, for the consumer's own compile-time architecture. Only templates on Arch live in kernel headers, so no
// ISA-specific copy of a shared inline function can leak into baseline code.
#pragma once

#include <qamw/kernels/fwht.hpp>
#include <qamw/kernels/int_product.hpp>
#include <qamw/kernels/isa.hpp>
#include <qamw/kernels/product.hpp>

namespace qamw {

struct kernel_table {
    isa id;
    /// x[0, n) ← gain · H(signs ⊙ x) per block of `block` floats (stages/fwht.hpp).
    void (*fwht_forward)(float* x, const float* signs, std::size_t n, std::size_t block, float gain);
    /// x[0, n) ← signs ⊙ (gain · H x) per block.
    void (*fwht_inverse)(float* x, const float* signs, std::size_t n, std::size_t block, float gain);
    /// out[0, 2·pairs) ← codeword coordinates of a row of packed k-bit codes (reads ≤ kernels::overread bytes past the codes).
    void (*lookup_row)(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, float* out);
    /// Σ over the row's pairs of ⟨codeword, (xt[2p], xt[2p+1])⟩ (reads ≤ kernels::overread bytes past the codes).
    float (*dot_row)(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, const float* xt);
    /// y[b·ldy + i] = Σ_{j<n} q[i·ldq + j] · x[b·ldx + j] for i < rows, b < nb.
    void (*dot_tile)(const float* q, std::size_t ldq, std::size_t rows, const float* x, std::size_t ldx,
                     std::size_t nb, std::size_t n, float* y, std::size_t ldy);
    /// Integer path, k ≤ 8 (kernels/int_product.hpp): y[r] ≈ ⟨ĉ_r, x̃⟩ for rows at codes + r·stride against the q8
    /// activation; nullptr where this ISA has no SIMD version (callers then use dot_rows_q16).
    void (*dot_rows_q8)(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                        const int_codebook& cb, const block_q8a* a, float bias, float* y);
    /// Integer path, any k: the same against the q16 activation (reads ≤ kernels::overread bytes past the codes).
    void (*dot_rows_q16)(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                         const int_codebook& cb, const block_q16a* a, float* y);
};

template <class Arch>
kernel_table make_kernel_table(isa id) {
    kernel_table t{};
    t.id = id;
    t.fwht_forward = &kernels::fwht<Arch>::forward;
    t.fwht_inverse = &kernels::fwht<Arch>::inverse;
    t.lookup_row = &kernels::product<Arch>::lookup_row;
    t.dot_row = &kernels::product<Arch>::dot_row;
    t.dot_tile = &kernels::product<Arch>::dot_tile;
    t.dot_rows_q8 = kernels::int_product<Arch>::has_q8 ? &kernels::int_product<Arch>::dot_rows_q8 : nullptr;
    t.dot_rows_q16 = &kernels::int_product<Arch>::dot_rows_q16;
    return t;
}

}  // namespace qamw
