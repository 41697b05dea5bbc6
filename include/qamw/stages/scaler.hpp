// qamw/stages/scaler.hpp — the activation-aware per-input-column scaling stage (AWQ style).
//
// Math. With scales s_j > 0 (one per input column, chosen from activation statistics elsewhere), the codec quantizes
// W' = W · diag(s) and the decoder returns Ŵ = Ŵ' · diag(1/s). Columns whose activations are large get larger s, so
// their weights take a larger share of each row's norm and are quantized with smaller relative error. The scales are
// side information stored as IEEE binary16; the encoder applies the stored (rounded) values so that the decoder undoes
// exactly what was applied. Forward: w_ij → w_ij · s_j; inverse: w'_ij → w'_ij / s_j (both single IEEE operations).
#pragma once

#include <qamw/detail/half.hpp>
#include <qamw/error.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qamw {

/// Rounds scales to their stored binary16 form; each must be finite and within the normal f16 range [2^−14, 65504].
inline std::vector<std::uint16_t> store_col_scales(const float* s, std::size_t n) {
    std::vector<std::uint16_t> out(n);
    for (std::size_t j = 0; j < n; ++j) {
        if (!(std::isfinite(s[j]) && s[j] >= 0x1p-14f && s[j] <= 65504.0f))
            throw error(errc::invalid_argument, "column scale " + std::to_string(j) + " = " + std::to_string(s[j]) +
                                                    " is outside the binary16 normal range [2^-14, 65504]");
        out[j] = detail::f32_to_f16(s[j]);
    }
    return out;
}

/// Stored scales as floats.
inline std::vector<float> col_scale_values(const std::vector<std::uint16_t>& stored) {
    std::vector<float> v(stored.size());
    for (std::size_t j = 0; j < stored.size(); ++j) v[j] = detail::f16_to_f32(stored[j]);
    return v;
}

/// Forward: x_j *= s_j. Inverse: x_j /= s_j.
inline void scale_columns(float* x, const float* s, std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) x[j] *= s[j];
}
inline void unscale_columns(float* x, const float* s, std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) x[j] /= s[j];
}

}  // namespace qamw
