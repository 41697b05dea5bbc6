// src/isa_sse2.cpp — the kernels instantiated for xsimd::sse2; compiled with that ISA's -m flags (cmake/qamwDispatch.cmake).
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
extern const kernel_table kernel_table_sse2;
constexpr kernel_table kernel_table_sse2 = make_kernel_table<simd_kernels<xsimd::sse2>>();
}  // namespace qamw::detail
