// src/isa_avx2.cpp — the kernels instantiated for xsimd::fma3<xsimd::avx2>; compiled with that ISA's -m flags (cmake/qamwDispatch.cmake).
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
const kernel_table& kernel_table_avx2() {
    static const kernel_table t = make_kernel_table<xsimd::fma3<xsimd::avx2>>(isa::avx2);
    return t;
}
}  // namespace qamw::detail
