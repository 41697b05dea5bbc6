// qamw/codebooks/family.hpp — the codebook families: their names, which k each exists for, and the codebook id
// written into containers ("lm2d-k11", "d8-k11"). The tables themselves are in codebooks/codebook.hpp.
//
//   lm2d  2D Lloyd-Max codebooks for N(0, I₂), k = 4…12 (codebooks/lm2d.hpp); the default
//   d8    Lloyd codebooks with the symmetry of the square, k = 9, 10, 11 (codebooks/d8.hpp, docs/FORMAT.md)
#pragma once

#include <qamw/error.hpp>
#include <qamw/stages/packer.hpp>

#include <cstdint>
#include <string>

namespace qamw {

/// Which family of shipped codebooks a tensor's codes index.
enum class codebook_family : std::uint8_t { lm2d, d8 };

/// "lm2d" or "d8".
inline const char* family_name(codebook_family f) { return f == codebook_family::d8 ? "d8" : "lm2d"; }

/// The family called `name` ("lm2d" or "d8"); throws errc::invalid_argument naming `what` (an option, a field).
inline codebook_family parse_codebook_family(const std::string& name, const std::string& what) {
    if (name == "lm2d") return codebook_family::lm2d;
    if (name == "d8") return codebook_family::d8;
    throw error(errc::invalid_argument, what + ": unknown codebook family '" + name + "' (known: lm2d, d8)");
}

/// The k for which family f has a codebook: lm2d [4, 12], d8 [9, 11].
inline bool family_has_bits(codebook_family f, int k) {
    return f == codebook_family::d8 ? k >= 9 && k <= 11 : k >= min_bits && k <= max_bits;
}

/// Throws errc::invalid_argument when family f has no codebook of k bits per pair.
inline void check_family_bits(codebook_family f, int k) {
    if (family_has_bits(f, k)) return;
    if (f == codebook_family::d8)
        throw error(errc::invalid_argument, "codebook d8 exists for k = 9, 10, 11 (not k = " + std::to_string(k) + ")");
    throw error(errc::invalid_argument, "bits per pair k = " + std::to_string(k) + " is outside [4, 12]");
}

/// The symmetry of a d8 codebook: code s·n_b + b decodes to T_s of base point b, where T_s swaps x and y if s & 4,
/// then negates x if s & 1 and y if s & 2 (docs/FORMAT.md). Exact for floats and for the integer codebooks
/// (kernels/int_format.hpp) alike; the one definition the tables, their checks and the generator use.
template <class T>
void d8_transform(int s, T& x, T& y) {
    if (s & 4) {
        const T t = x;
        x = y, y = t;
    }
    if (s & 1) x = static_cast<T>(-x);
    if (s & 2) y = static_cast<T>(-y);
}

/// The codebook id written into containers: "<family>-k<K>".
inline std::string codebook_id(codebook_family f, int k) { return family_name(f) + std::string("-k") + std::to_string(k); }

}  // namespace qamw
