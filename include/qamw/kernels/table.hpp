// qamw/kernels/table.hpp — the set of hot-loop kernels of one instruction set, as plain function pointers.
//
// make_kernel_table<Arch>() instantiates every kernel for one xsimd architecture. It is included by the per-ISA
// translation units of the qamw::dispatch library (src/isa_*.cpp, each compiled with its -m flags) and, in header-only
// use, for the consumer's own compile-time architecture. Only templates on Arch live in kernel headers, so no
// ISA-specific copy of a shared inline function can leak into baseline code.
#pragma once

#include <qamw/kernels/fwht.hpp>
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
    return t;
}

}  // namespace qamw
