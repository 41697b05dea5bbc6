// src/isa_avx2.cpp — the kernels instantiated for xsimd::fma3<xsimd::avx2>; compiled with that ISA's -m flags (cmake/qamwDispatch.cmake).
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
extern const kernel_table kernel_table_avx2;
constexpr kernel_table kernel_table_avx2 = make_kernel_table<simd_kernels<xsimd::fma3<xsimd::avx2>>>();
}  // namespace qamw::detail
