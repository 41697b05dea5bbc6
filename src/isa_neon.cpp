// src/isa_neon.cpp — the kernels instantiated for xsimd::neon64; compiled with that ISA's -m flags (cmake/qamwDispatch.cmake).
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
extern const kernel_table kernel_table_neon;
constexpr kernel_table kernel_table_neon = make_kernel_table<simd_kernels<xsimd::neon64>>();
}  // namespace qamw::detail
