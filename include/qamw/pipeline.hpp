// qamw/pipeline.hpp — the codec's pipeline as a spec string, in the manner of faiss' index factory:
//     scale,norm,fwht:256,lm2d:11,pack
// names the stages of codec.hpp in their order, each with its parameter:
//   scale         optional: activation-aware column scales (stages/scaler.hpp); the caller supplies them
//   norm          the row normaliser (stages/normalizer.hpp)
//   fwht[:B]      randomized block Hadamard with block B (power of two in [32, 4096]; default 256)
//   QUANT:K       the pair quantizer and its bits per pair K in [4, 12]: "lm2d" (the shipped Lloyd-Max codebooks) or
//                 "d8" (the D8-symmetric codebooks, K in [9, 11]) here; tools may know more (polar). The packer and
//                 container store K (and the container the codebook family).
//   pack          the bit packer (stages/packer.hpp)
// Parsing builds the same objects the C++ API composes: codec params (k, B) and the quantizer's name; to_string()
// gives the canonical spelling back. Errors name the spec, the item and the rule.
#pragma once

#include <qamw/codec.hpp>
#include <qamw/error.hpp>

#include <string>
#include <vector>

namespace qamw {

/// A parsed pipeline spec.
struct pipeline_spec {
    bool scale = false;             ///< column scales are applied
    std::string quantizer = "lm2d"; ///< the pair quantizer's name
    params codec;                   ///< k (codec.bits), B (codec.block), family (d8 for "d8"); the seed keeps its default
};

namespace detail {
inline std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out(1);
    for (char c : s) {
        if (c == ',') out.emplace_back();
        else out.back().push_back(c);
    }
    return out;
}
/// The decimal integer in s (1 to 5 digits), or -1.
inline int small_int(const std::string& s) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
    return std::stoi(s);
}
}  // namespace detail

/// Parses a spec of the file comment. `quantizers` lists the pair-quantizer names the caller can build.
inline pipeline_spec parse_pipeline(const std::string& spec, const std::vector<std::string>& quantizers = {"lm2d", "d8"}) {
    auto fail = [&](const std::string& m) {
        return error(errc::invalid_argument, "pipeline '" + spec + "': " + m +
                                                 " (expected [scale,]norm,fwht[:B],QUANT:K,pack, e.g. "
                                                 "scale,norm,fwht:256,lm2d:11,pack)");
    };
    std::vector<std::string> items = detail::split_commas(spec);
    pipeline_spec p;
    std::size_t i = 0;
    if (i < items.size() && items[i] == "scale") p.scale = true, ++i;
    if (i >= items.size() || items[i] != "norm") throw fail("stage " + std::to_string(i + 1) + " must be 'norm'");
    ++i;
    if (i >= items.size() || items[i].compare(0, 4, "fwht") != 0 || (items[i].size() > 4 && items[i][4] != ':'))
        throw fail("stage " + std::to_string(i + 1) + " must be 'fwht' or 'fwht:B'");
    if (items[i].size() > 4) {
        const int b = detail::small_int(items[i].substr(5));
        if (b < 32 || b > 4096 || (b & (b - 1)) != 0) throw fail("'" + items[i] + "': B must be a power of two in [32, 4096]");
        p.codec.block = b;
    }
    ++i;
    if (i >= items.size()) throw fail("a pair quantizer QUANT:K must follow fwht");
    const std::size_t colon = items[i].find(':');
    p.quantizer = items[i].substr(0, colon);
    bool known = false;
    for (const auto& q : quantizers) known = known || q == p.quantizer;
    if (!known) {
        std::string list;
        for (const auto& q : quantizers) list += (list.empty() ? "" : ", ") + q;
        throw fail("unknown pair quantizer '" + p.quantizer + "' (known: " + list + ")");
    }
    const int k = colon == std::string::npos ? -1 : detail::small_int(items[i].substr(colon + 1));
    if (k < min_bits || k > max_bits) throw fail("'" + items[i] + "': K must be an integer in [4, 12]");
    p.codec.bits = k;
    if (p.quantizer == "d8") {
        if (!family_has_bits(codebook_family::d8, k)) throw fail("'" + items[i] + "': codebook d8 exists for k = 9, 10, 11");
        p.codec.family = codebook_family::d8;
    }
    ++i;
    if (i >= items.size() || items[i] != "pack") throw fail("the last stage must be 'pack'");
    if (++i != items.size()) throw fail("nothing may follow 'pack'");
    return p;
}

/// The canonical spelling of a spec (what parse_pipeline reads back to the same spec).
inline std::string to_string(const pipeline_spec& p) {
    return std::string(p.scale ? "scale," : "") + "norm,fwht:" + std::to_string(p.codec.block) + "," + p.quantizer +
           ":" + std::to_string(p.codec.bits) + ",pack";
}

}  // namespace qamw
