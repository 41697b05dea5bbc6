// src/isa_avx512vnni_gather.cpp — the kernels instantiated for qamw::avx512_vnni_gather (the avx512vnni kernels with
// the q16 table lookups by hardware gathers); compiled with avx512vnni's -m flags (cmake/qamwDispatch.cmake), available
// wherever avx512vnni is, preferred by select_kernels() where gathers_preferred() (qamw/dispatch.hpp).
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
extern const kernel_table kernel_table_avx512vnni_gather;
constexpr kernel_table kernel_table_avx512vnni_gather = make_kernel_table<simd_kernels<avx512_vnni_gather>>();
}  // namespace qamw::detail
