// src/isa_neondot.cpp — the kernels instantiated for qamw::neon_dotprod (AArch64 NEON with the dot-product extension:
// float kernels as for neon64, the q8 integer kernel with sdot); compiled with -march=armv8.2-a+dotprod
// (cmake/qamwDispatch.cmake), picked by src/dispatch.cpp when the kernel reports the feature.
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
extern const kernel_table kernel_table_neondot;
constexpr kernel_table kernel_table_neondot = make_kernel_table<simd_kernels<neon_dotprod>>();
}  // namespace qamw::detail
