// qamw/detail/half.hpp — exact conversions between IEEE binary16 (f16), bfloat16 (bf16) and binary32.
//
// Widening (f16/bf16 → f32) is exact. Narrowing (f32 → f16/bf16) rounds to nearest, ties to even; NaN stays NaN,
// values beyond the f16 range become ±Inf. Pure integer code: the same bits on every machine and compiler.
#pragma once

#include <cstdint>
#include <cstring>

namespace qamw::detail {

inline std::uint32_t bits_of(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float float_of(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

inline float bf16_to_f32(std::uint16_t h) { return float_of(static_cast<std::uint32_t>(h) << 16); }

inline std::uint16_t f32_to_bf16(float f) {
    std::uint32_t u = bits_of(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<std::uint16_t>(u >> 16);
}

inline float f16_to_f32(std::uint16_t h) {
    std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return float_of(sign | 0x7f800000u | (man << 13));  // Inf / NaN
    if (exp == 0) {
        if (man == 0) return float_of(sign);
        // subnormal: value = man * 2^-24, exact in f32
        float v = static_cast<float>(man) * float_of(0x33800000u);  // 2^-24
        return float_of(sign | bits_of(v));
    }
    return float_of(sign | ((exp + 112u) << 23) | (man << 13));
}

inline std::uint16_t f32_to_f16(float f) {
    std::uint32_t u = bits_of(f);
    std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);  // NaN
    if (a >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: Inf
    if (a < 0x38800000u) {                                                     // below 2^-14: subnormal or zero
        if (a < 0x33000000u) return sign;                                      // below 2^-25: rounds to zero
        std::uint32_t e = a >> 23, man = (a & 0x7fffffu) | 0x800000u;
        std::uint32_t shift = 126u - e;  // 14..24: value = man * 2^(e-150), unit 2^-24
        std::uint32_t q = man >> shift, rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) ++q;
        return static_cast<std::uint16_t>(sign | q);
    }
    std::uint32_t r = a + 0xfffu + ((a >> 13) & 1u);  // round mantissa to 10 bits, ties to even
    return static_cast<std::uint16_t>(sign | (((r >> 13) - (112u << 10)) & 0x7fffu));
}

}  // namespace qamw::detail
