// qamw/kernels/isa.hpp — names of the instruction sets qamw has kernels for.
#pragma once

namespace qamw {

/// avx512vnni: AVX-512BW + VBMI + VNNI (the integer kernels' register-resident codebooks; kernels/int_product.hpp).
enum class isa : int { scalar, sse2, avx2, avx512, neon, avx512vnni };

constexpr const char* isa_name(isa i) {
    switch (i) {
        case isa::scalar: return "scalar";
        case isa::sse2: return "sse2";
        case isa::avx2: return "avx2";
        case isa::avx512: return "avx512";
        case isa::neon: return "neon";
        case isa::avx512vnni: return "avx512vnni";
    }
    return "?";
}

}  // namespace qamw
