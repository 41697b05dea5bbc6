// src/isa_avx512.cpp — the kernels instantiated for xsimd::avx512bw; compiled with that ISA's -m flags (cmake/qamwDispatch.cmake).
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
extern const kernel_table kernel_table_avx512;
constexpr kernel_table kernel_table_avx512 = make_kernel_table<simd_kernels<xsimd::avx512bw>>();
}  // namespace qamw::detail
