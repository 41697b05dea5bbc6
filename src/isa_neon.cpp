// src/isa_neon.cpp — the kernels instantiated for xsimd::neon64; compiled with that ISA's -m flags (cmake/qamwDispatch.cmake).
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
const kernel_table& kernel_table_neon() {
    static const kernel_table t = make_kernel_table<xsimd::neon64>(isa::neon);
    return t;
}
}  // namespace qamw::detail
