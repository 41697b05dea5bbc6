// src/isa_avx512vnni.cpp — the kernels instantiated for qamw::avx512_vnni (AVX-512BW + VBMI + VNNI: float kernels as
// for avx512bw, integer kernels with register-resident codebooks); compiled with that ISA's -m flags
// (cmake/qamwDispatch.cmake), picked by src/dispatch.cpp when the CPU reports avx512bw, avx512vbmi and avx512vnni.
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
extern const kernel_table kernel_table_avx512vnni;
constexpr kernel_table kernel_table_avx512vnni = make_kernel_table<simd_kernels<avx512_vnni>>();
}  // namespace qamw::detail
