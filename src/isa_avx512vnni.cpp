// src/isa_avx512vnni.cpp — the kernels instantiated for qamw::avx512_vnni (AVX-512BW + VBMI + VNNI; float kernels as
// for avx512bw, integer kernels with register-resident codebooks); compiled with that ISA's -m flags
// (cmake/qamwDispatch.cmake), picked by src/dispatch.cpp when the CPU reports avx512bw, avx512vbmi and avx512vnni.
#include <qamw/kernels/table.hpp>

namespace qamw::detail {
const kernel_table& kernel_table_avx512vnni() {
    static const kernel_table t = make_kernel_table<avx512_vnni>(isa::avx512vnni);
    return t;
}
}  // namespace qamw::detail
