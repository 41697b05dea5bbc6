// tools/baselines/registry.hpp — QAM-W and its baselines behind one interface, selected by name ("fake quantization":
// each returns the reconstruction of a weight matrix and the exact number of bits its stored form takes).
//
// Names (NAME:BITS):
//   qamw:K        QAM-W, K bits per pair (4…12): qamw::encode then qamw::decode with params{bits = K}
//   polar:K       polar coding of the same rotated pairs, K bits per pair (2…16), best radius/phase split (polar.hpp)
//   scalar:B      PolarQuant-style scalar Lloyd-Max after rotation, B bits per coordinate (1…8), f16 norm per 128
//                 (scalar.hpp)
//   rtn32:B, rtn128:B, rtn32-rot:B, rtn128-rot:B
//                 round-to-nearest absmax in groups of 32 / 128 with an f16 scale per group, B bits per weight (2…8),
//                 plain or after QAM-W's randomized Hadamard rotation (rtn.hpp)
// True rate: `bits` counts every stored bit (codes with byte-aligned rows, norms, their exponent, group scales, column
// scales when given); bits ÷ (rows·cols) is the true bpw. Everything runs on `threads` workers with output identical
// for every thread count.
//
// at_rate(family, bpw, rows, cols): for each codec of the family ("rtn" stands for all four rtn variants), the setting
// whose true bpw (without column scales) is closest to bpw among those not above bpw + 0.15; on equal distance the
// cheaper one. A family with no setting within the rule contributes nothing (so the result may be empty).
// The 0.15 slack admits the fixed side information of the PolarQuant-style scalar coder (+0.125 bpw) and rtn128
// (+0.125) at their nominal rate, and rejects rtn32's +0.5 (rtn32:4 is a 4.5 bpw format and competes at 4.5).
#pragma once

#include "baselines/polar.hpp"
#include "baselines/rtn.hpp"
#include "baselines/scalar.hpp"
#include "common/codebooks.hpp"
#include <qamw/codec.hpp>
#include <qamw/error.hpp>
#include <qamw/pipeline.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace qamw::baselines {

/// A reconstruction and the exact stored bits (codes + side information).
struct result {
    std::vector<float> w_hat;  ///< rows × cols, row-major
    double bits = 0;
};

/// A codec and its bits parameter, e.g. {"qamw", 11}.
struct codec_spec {
    std::string name;
    int bits = 0;
    int block = 256;  ///< Hadamard block of the pair codecs (qamw, polar)
};

inline std::string to_string(const codec_spec& c) {
    if ((c.name == "qamw" || c.name == "polar") && c.block != 256)
        return "norm,fwht:" + std::to_string(c.block) + "," + (c.name == "qamw" ? "lm2d" : c.name) + ":" +
               std::to_string(c.bits) + ",pack";
    return c.name + ":" + std::to_string(c.bits);
}

/// The codec names with their bits range.
struct codec_info {
    const char* name;
    int min_bits, max_bits;
    const char* unit;  ///< what `bits` counts
};
inline const std::vector<codec_info>& codecs() {
    static const std::vector<codec_info> list = {
        {"qamw", min_bits, max_bits, "bits per pair"},
        {"polar", min_bits, max_bits, "bits per pair"},
        {"scalar", scalar_min_bits, scalar_max_bits, "bits per coordinate"},
        {"rtn32", rtn_min_bits, rtn_max_bits, "bits per weight"},
        {"rtn128", rtn_min_bits, rtn_max_bits, "bits per weight"},
        {"rtn32-rot", rtn_min_bits, rtn_max_bits, "bits per weight"},
        {"rtn128-rot", rtn_min_bits, rtn_max_bits, "bits per weight"},
    };
    return list;
}

namespace detail {
inline const codec_info* find_codec(const std::string& name) {
    for (const codec_info& c : codecs())
        if (name == c.name) return &c;
    return nullptr;
}
inline std::string codec_list() {
    std::string s;
    for (const codec_info& c : codecs())
        s += (s.empty() ? "" : ", ") + std::string(c.name) + ":" + std::to_string(c.min_bits) + ".." +
             std::to_string(c.max_bits);
    return s;
}
inline rtn_params rtn_of(const codec_spec& c) {
    rtn_params rp;
    rp.bits = c.bits;
    rp.group = c.name.compare(0, 6, "rtn128") == 0 ? 128 : 32;
    rp.rotate = c.name.size() > 4 && c.name.compare(c.name.size() - 4, 4, "-rot") == 0;
    return rp;
}
inline void check_spec(const codec_spec& c) {
    const codec_info* info = find_codec(c.name);
    if (!info)
        throw error(errc::invalid_argument, "unknown codec '" + c.name + "' (known: " + codec_list() + ")");
    if (c.bits < info->min_bits || c.bits > info->max_bits)
        throw error(errc::invalid_argument, "codec " + c.name + ": " + std::to_string(c.bits) + " " + info->unit +
                                                " is outside [" + std::to_string(info->min_bits) + ", " +
                                                std::to_string(info->max_bits) + "]");
}
}  // namespace detail

/// Parses "NAME:BITS" (e.g. "qamw:11", "rtn128-rot:4") or a pipeline spec of a pair codec (qamw/pipeline.hpp:
/// "norm,fwht:128,lm2d:8,pack" is qamw:8 with B = 128; "norm,fwht,polar:8,pack" is polar:8). Throws
/// errc::invalid_argument naming the input and listing the codecs with their ranges.
inline codec_spec parse_codec(const std::string& s) {
    if (s.find(',') != std::string::npos) {
        const pipeline_spec p = parse_pipeline(s, {"lm2d", "polar"});
        if (p.scale)
            throw error(errc::invalid_argument, "pipeline '" + s + "': fake quantization has no activation statistics "
                                                "for a scale stage");
        return {p.quantizer == "lm2d" ? "qamw" : p.quantizer, p.codec.bits, p.codec.block};
    }
    const std::size_t colon = s.find(':');
    const std::string digits = colon == std::string::npos ? "" : s.substr(colon + 1);
    if (colon == std::string::npos || digits.empty() || digits.size() > 2 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
        throw error(errc::invalid_argument,
                    "codec '" + s + "' is not NAME:BITS (known: " + detail::codec_list() + ")");
    codec_spec c{s.substr(0, colon), std::stoi(digits)};
    detail::check_spec(c);
    return c;
}

/// Exact stored bits of a rows × cols matrix under codec c, with or without f16 column scales.
inline double stored_bits(const codec_spec& c, std::int64_t rows, std::int64_t cols, bool col_scales) {
    detail::check_spec(c);
    qamw::detail::check_shape(rows, cols);
    if (c.name == "qamw" || c.name == "polar") return pair_codec_bits(rows, cols, c.bits, col_scales, c.block);
    if (c.name == "scalar") return scalar_codec_bits(rows, cols, c.bits, col_scales);
    return rtn_codec_bits(rows, cols, detail::rtn_of(c), col_scales);
}

/// Reconstruction of a rows × cols row-major f32 matrix under codec c. col_scales: cols activation-aware scales
/// (f16 normal range) applied before coding and undone after, or nullptr. Throws qamw::error for a bad codec, shape,
/// scale or a non-finite weight.
inline result reconstruct(const codec_spec& c, const float* w, std::int64_t rows, std::int64_t cols,
                          const float* col_scales, int threads) {
    detail::check_spec(c);
    qamw::detail::check_shape(rows, cols);
    if (!w && rows > 0) throw error(errc::invalid_argument, "reconstruct: null weights");
    result r;
    if (c.name == "qamw") {
        params p;
        p.bits = c.bits;
        p.block = c.block;
        quantized_tensor q = encode(tools::codebook_for(c.bits), w, rows, cols, p, col_scales, on_threads{threads});
        r.w_hat = decode(q, on_threads{threads});
        r.bits = 8.0 * double(q.stored_bytes());
        return r;
    }
    r.w_hat.resize(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols));
    if (c.name == "polar")
        r.bits = polar_reconstruct(w, rows, cols, c.bits, c.block, col_scales, threads, r.w_hat.data());
    else if (c.name == "scalar")
        r.bits = scalar_reconstruct(w, rows, cols, c.bits, col_scales, threads, r.w_hat.data());
    else
        r.bits = rtn_reconstruct(w, rows, cols, detail::rtn_of(c), col_scales, threads, r.w_hat.data());
    return r;
}

/// The setting(s) of `family` at about `bpw` bits per weight for a rows × cols matrix (rule in the file comment).
/// family: a codec name, or "rtn" for all four rtn variants. Throws for an unknown family.
inline std::vector<codec_spec> at_rate(const std::string& family, double bpw, std::int64_t rows, std::int64_t cols) {
    std::vector<const codec_info*> members;
    for (const codec_info& c : codecs())
        if (family == c.name || (family == "rtn" && std::string(c.name).compare(0, 3, "rtn") == 0))
            members.push_back(&c);
    if (members.empty())
        throw error(errc::invalid_argument, "unknown codec family '" + family + "' (known: rtn, " +
                                                detail::codec_list() + ")");
    qamw::detail::check_shape(rows, cols);
    if (rows < 1) throw error(errc::invalid_argument, "at_rate: a matrix needs at least one row");
    const double weights = double(rows) * double(cols);
    std::vector<codec_spec> out;
    for (const codec_info* info : members) {
        codec_spec best;
        double best_rate = 0;
        for (int b = info->min_bits; b <= info->max_bits; ++b) {
            codec_spec c{info->name, b};
            const double rate = stored_bits(c, rows, cols, false) / weights;
            if (rate > bpw + 0.15) continue;
            const double d = std::fabs(rate - bpw), bd = std::fabs(best_rate - bpw);
            if (best.name.empty() || d < bd || (d == bd && rate < best_rate)) best = c, best_rate = rate;
        }
        if (!best.name.empty()) out.push_back(best);
    }
    return out;
}

}  // namespace qamw::baselines
