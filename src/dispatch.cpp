// src/dispatch.cpp — which compiled ISA tables the CPU can run (baseline code: compiled without -m flags).
#include <qamw/dispatch.hpp>

#include <xsimd/xsimd.hpp>

namespace qamw::detail {

#if defined(__x86_64__) || defined(_M_X64)
extern const kernel_table kernel_table_sse2, kernel_table_avx2, kernel_table_avx512, kernel_table_avx512vnni;
#elif defined(__aarch64__)
extern const kernel_table kernel_table_neon;
#endif

const kernel_table* compiled_kernel_table(isa id) {
    static const auto cpu = xsimd::available_architectures();
    switch (id) {
#if defined(__x86_64__) || defined(_M_X64)
        case isa::sse2: return cpu.sse2 ? &kernel_table_sse2 : nullptr;
        case isa::avx2: return cpu.fma3_avx2 ? &kernel_table_avx2 : nullptr;
        case isa::avx512: return cpu.avx512bw ? &kernel_table_avx512 : nullptr;
        case isa::avx512vnni:  // xsimd 8.1 does not detect VBMI / VNNI; GCC's and Clang's CPUID builtins do
            return cpu.avx512bw && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vnni")
                       ? &kernel_table_avx512vnni
                       : nullptr;
#elif defined(__aarch64__)
        case isa::neon: return cpu.neon64 ? &kernel_table_neon : nullptr;
#endif
        default: return nullptr;
    }
}

}  // namespace qamw::detail
