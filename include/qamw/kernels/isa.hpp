// qamw/kernels/isa.hpp — names of the instruction sets qamw has kernels for.
#pragma once

namespace qamw {

enum class isa : int { scalar, sse2, avx2, avx512, neon };

constexpr const char* isa_name(isa i) {
    switch (i) {
        case isa::scalar: return "scalar";
        case isa::sse2: return "sse2";
        case isa::avx2: return "avx2";
        case isa::avx512: return "avx512";
        case isa::neon: return "neon";
    }
    return "?";
}

}  // namespace qamw
