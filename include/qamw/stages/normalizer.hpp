// qamw/stages/normalizer.hpp — the row normalisation stage.
//
// Math. Each row w_i is described by its L2 norm r_i = ‖w_i‖ and its direction w_i / r_i. The norm is accumulated in
// double in column order (squares of floats are exact in double, so the sum is the same on every machine and compiler)
// and stored as side information in IEEE binary16 with one power-of-two exponent per tensor:
//     r̂_i = f16(r_i · 2^−e) · 2^e,   e = ⌈log2(max_i r_i / 32768)⌉   (so every stored value is ≤ 32768)
// The codec normalises by the stored r̂_i, so the decoder's scale is exactly the encoder's. A zero row has r̂ = 0 and
// decodes to exact zeros. Forward: w → (r̂, w / r̂); inverse: (r̂, u) → r̂ · u.
// Range: e ≤ max_norm_exp2 = 84, so r̂ < 2^100; a decoded weight is at most r̂·√B·max|c|/s_min < 2^100·2^6·2^3·2^14 =
// 2^123, always finite in f32. The encoder refuses rows beyond it (no real weight matrix comes near), decoders refuse
// containers beyond it: finite in, finite out.
#pragma once

#include <qamw/detail/half.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace qamw {

/// ‖x‖ of n floats, summed in double in index order.
inline double row_norm(const float* x, std::size_t n) {
    double s = 0;
    for (std::size_t j = 0; j < n; ++j) {
        double v = x[j];
        s += v * v;
    }
    return std::sqrt(s);
}

/// The exponent range of stored norms (see the file comment).
constexpr int min_norm_exp2 = -200, max_norm_exp2 = 84;

/// r̂ = f16 · 2^e.
inline float stored_norm_value(std::uint16_t f16, int exp2) { return std::ldexp(detail::f16_to_f32(f16), exp2); }

/// Row norms as stored: binary16 mantissas sharing the exponent `exp2`.
struct stored_norms {
    std::vector<std::uint16_t> f16;  ///< one per row
    int exp2 = 0;                    ///< e: r̂_i = f16_to_f32(f16[i]) · 2^e

    float value(std::size_t i) const { return stored_norm_value(f16[i], exp2); }
};

/// Quantizes exact norms to the stored form of the file comment. The caller checks the range (exp2 ≤ max_norm_exp2).
inline stored_norms store_norms(const std::vector<double>& norms) {
    stored_norms s;
    double mx = 0;
    for (double r : norms) mx = r > mx ? r : mx;
    s.exp2 = mx > 0 ? static_cast<int>(std::ceil(std::log2(mx / 32768.0))) : 0;
    if (mx > 0 && std::ldexp(mx, -s.exp2) > 32768.0) ++s.exp2;  // guard log2 rounding
    s.f16.reserve(norms.size());
    for (double r : norms) s.f16.push_back(detail::f32_to_f16(static_cast<float>(std::ldexp(r, -s.exp2))));
    return s;
}

}  // namespace qamw
