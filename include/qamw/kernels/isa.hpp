// qamw/kernels/isa.hpp — names of the instruction sets qamw has kernels for.
#pragma once

namespace qamw {

/// scalar: the references; sse2; avx (Sandy Bridge: 256-bit float, no FMA); avx2 (with FMA); avx512 (AVX-512BW,
/// run on 256-bit AVX2 batches where that is faster); avx512vnni (AVX-512BW + VBMI + VNNI: the integer kernels'
/// register-resident codebooks, kernels/int_product.hpp); avx512vnni_gather (the same, with the q16 table lookups by
/// hardware gathers: a tuning for CPUs whose gathers are fast); neon (AArch64, the ARMv8.0 baseline); neondot (AArch64 with
/// the dot-product extension, ARMv8.2 FEAT_DotProd: the q8 kernel's sdot).
enum class isa : int { scalar, sse2, avx, avx2, avx512, avx512vnni, avx512vnni_gather, neon, neondot };

/// Every isa, in the enum's order (within each architecture, best last).
inline constexpr isa all_isas[] = {isa::scalar, isa::sse2,       isa::avx,               isa::avx2, isa::avx512,
                                   isa::avx512vnni, isa::avx512vnni_gather, isa::neon, isa::neondot};

constexpr const char* isa_name(isa i) {
    switch (i) {
        case isa::scalar: return "scalar";
        case isa::sse2: return "sse2";
        case isa::avx: return "avx";
        case isa::avx2: return "avx2";
        case isa::avx512: return "avx512";
        case isa::avx512vnni: return "avx512vnni";
        case isa::avx512vnni_gather: return "avx512vnni_gather";
        case isa::neon: return "neon";
        case isa::neondot: return "neondot";
    }
    return "?";
}

}  // namespace qamw
