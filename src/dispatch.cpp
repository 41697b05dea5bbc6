// src/dispatch.cpp — which compiled ISA tables the CPU can run (baseline code: compiled without -m flags).
#include <qamw/dispatch.hpp>

#include <xsimd/xsimd.hpp>

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace qamw::detail {

#if defined(__x86_64__) || defined(_M_X64)
extern const kernel_table kernel_table_sse2, kernel_table_avx2, kernel_table_avx512, kernel_table_avx512vnni,
    kernel_table_avx512vnni_gather;
#elif defined(__aarch64__)
extern const kernel_table kernel_table_neon, kernel_table_neondot;
#endif

const kernel_table* compiled_kernel_table(isa id) {
    static const auto cpu = xsimd::available_architectures();
    switch (id) {
#if defined(__x86_64__) || defined(_M_X64)
        case isa::sse2: return cpu.sse2 ? &kernel_table_sse2 : nullptr;
        case isa::avx2: return cpu.fma3_avx2 ? &kernel_table_avx2 : nullptr;
        case isa::avx512: return cpu.avx512bw ? &kernel_table_avx512 : nullptr;
        case isa::avx512vnni:  // xsimd 8.1 does not detect VBMI / VNNI; GCC's and Clang's CPUID builtins do
        case isa::avx512vnni_gather:
            if (!(cpu.avx512bw && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vnni"))) return nullptr;
            return id == isa::avx512vnni ? &kernel_table_avx512vnni : &kernel_table_avx512vnni_gather;
#elif defined(__aarch64__)
        case isa::neon: return cpu.neon64 ? &kernel_table_neon : nullptr;
        case isa::neondot:  // xsimd 8.1 does not detect FEAT_DotProd; Linux reports it in the auxiliary vector
#if defined(__linux__)
            return cpu.neon64 && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) ? &kernel_table_neondot : nullptr;
#else
            return nullptr;  // no detection written for other systems: their dispatch stays on the baseline kernels
#endif
#endif
        default: return nullptr;
    }
}

}  // namespace qamw::detail
