// src/isa_avx512.cpp — the kernels instantiated for xsimd::avx512bw; compiled with that ISA's -m flags (cmake/qamwDispatch.cmake).
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
const kernel_table& kernel_table_avx512() {
    static const kernel_table t = make_kernel_table<xsimd::avx512bw>(isa::avx512);
    return t;
}
}  // namespace qamw::detail
