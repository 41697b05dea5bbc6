// src/isa_sse2.cpp — the kernels instantiated for xsimd::sse2; compiled with that ISA's -m flags (cmake/qamwDispatch.cmake).
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
const kernel_table& kernel_table_sse2() {
    static const kernel_table t = make_kernel_table<xsimd::sse2>(isa::sse2);
    return t;
}
}  // namespace qamw::detail
