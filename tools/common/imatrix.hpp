// tools/common/imatrix.hpp — reader of llama.cpp's legacy binary importance matrix (`imatrix.dat`), converted to the
// per-input-channel statistics the AWQ search takes (tools/common/awq.hpp).
//
// Layout (all integers int32 little-endian, values float32 little-endian), as written by
// IMatrixCollector::save_imatrix_legacy in llama.cpp tools/imatrix/imatrix.cpp (save_imatrix in the older
// examples/imatrix/imatrix.cpp) and read by load_legacy_imatrix in tools/quantize/quantize.cpp:
//     n_entries
//     n_entries × { name_len, name bytes (no terminator), ncall, nval, nval × value }
//     optional: last_chunk (chunks processed), then optional: dataset_len, dataset bytes (the calibration file name)
// Entries are sorted by name in current writers; this reader keeps file order.
// Meaning of the values: the collector accumulates, per weight and input channel j, Σ x_j² over every activation row
// (token) that reached the matrix, and a token count c. The writer stores value_j = (Σ x_j² / c) · ncall, where
// ncall = ⌈c / chunk_size⌉ is the number of calibration chunks (the older writer: ncall = number of calls, same
// formula); load_legacy_imatrix divides by ncall again. So value_j / ncall = E[x_j²], the mean over tokens.
// For MoE weights (ffn_*_exps) nval = in_features × n_expert; those are not mapped here.
//
// Conversion (imatrix_to_stats): mean_sq_j = value_j / ncall. mean|x_j| is not in the file; √E[x_j²] (the RMS) stands
// in for it. The AWQ scales are invariant to a common factor of mean_abs, so this equals the true mean|x| exactly when
// every channel has the same shape of distribution (RMS = mean|x| · √(π/2) for Gaussian channels); heavy-tailed
// channels get a larger RMS / mean|x| ratio and so slightly larger scales than with qamw's own statistics
// (`qamw stats`).
// Names: llama.cpp's GGUF names are mapped to Hugging Face Llama names (llama_to_hf_name). llama.cpp's converter
// permutes the rows of attn_q / attn_k for its RoPE layout, never their columns, so input channels map one to one.
//
// Validation: every error is a qamw::error(errc::format) naming the file and the entry (index and name): truncated
// file, entry count < 1 or more than the file can hold, name length outside [1, 4096] or a NUL in the name, duplicate
// names, ncall < 1, nval < 1 or more than the file holds, NaN / infinite / negative values, malformed or extra trailing
// bytes. A GGUF file (llama-imatrix's default output since mid-2025) is errc::unsupported with the hint to write the
// legacy format (`llama-imatrix --output-format dat`). In conversion: an unmapped name is errc::unsupported, a weight
// the model lacks or an nval different from its in_features is errc::format.
#pragma once

#include <qamw/error.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <vector>

namespace qamw::tools {

/// One entry as stored.
struct imatrix_entry {
    std::string name;           ///< llama.cpp tensor name, e.g. "blk.0.attn_q.weight"
    std::int32_t ncall = 0;     ///< calibration chunks the values were computed on
    std::vector<float> values;  ///< E[x_j²] · ncall per input channel
};

/// A parsed file.
struct imatrix_data {
    std::vector<imatrix_entry> entries;  ///< in file order
    std::int32_t last_chunk = -1;        ///< trailing chunk count, −1 when absent
    std::string dataset;                 ///< trailing calibration file name, empty when absent
};

constexpr std::int32_t imatrix_max_name = 4096;

/// Parses the bytes of a legacy imatrix file; `file` names it in error messages.
inline imatrix_data parse_imatrix(const std::uint8_t* data, std::size_t size, const std::string& file) {
    std::size_t pos = 0;
    std::string where = "header";
    auto fail = [&](const std::string& msg) { return error(errc::format, file + ": " + where + ": " + msg); };
    auto need = [&](std::size_t n, const char* what) {
        if (size - pos < n)
            throw fail(std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes at offset " +
                       std::to_string(pos) + ", " + std::to_string(size - pos) + " left");
    };
    auto i32 = [&](const char* what) {
        need(4, what);
        std::uint32_t u = std::uint32_t(data[pos]) | std::uint32_t(data[pos + 1]) << 8 |
                          std::uint32_t(data[pos + 2]) << 16 | std::uint32_t(data[pos + 3]) << 24;
        pos += 4;
        std::int32_t v;
        std::memcpy(&v, &u, 4);
        return v;
    };
    if (size >= 4 && std::memcmp(data, "GGUF", 4) == 0)
        throw error(errc::unsupported, file + ": a GGUF imatrix; this reader takes llama.cpp's legacy imatrix.dat "
                                              "(write it with `llama-imatrix --output-format dat`)");
    imatrix_data out;
    const std::int32_t n = i32("the entry count");
    const std::size_t min_entry = 16;  // name_len, ≥ 1 name byte, ncall, nval (values come on top)
    if (n < 1) throw fail("entry count " + std::to_string(n) + " must be ≥ 1");
    if (std::size_t(n) > (size - pos) / min_entry)
        throw fail("entry count " + std::to_string(n) + " is more than the " + std::to_string(size) +
                   "-byte file can hold");
    std::set<std::string> seen;
    for (std::int32_t e = 0; e < n; ++e) {
        where = "entry " + std::to_string(e);
        imatrix_entry en;
        const std::int32_t len = i32("the name length");
        if (len < 1 || len > imatrix_max_name)
            throw fail("name length " + std::to_string(len) + " outside [1, " + std::to_string(imatrix_max_name) + "]");
        need(std::size_t(len), "the name");
        en.name.assign(reinterpret_cast<const char*>(data + pos), std::size_t(len));
        pos += std::size_t(len);
        if (en.name.find('\0') != std::string::npos) throw fail("the name contains a NUL byte");
        where += " ('" + en.name + "')";
        if (!seen.insert(en.name).second) throw fail("duplicate entry");
        en.ncall = i32("ncall");
        if (en.ncall < 1) throw fail("ncall " + std::to_string(en.ncall) + " must be ≥ 1");
        const std::int32_t nval = i32("nval");
        if (nval < 1) throw fail("nval " + std::to_string(nval) + " must be ≥ 1");
        if (std::size_t(nval) > (size - pos) / 4)
            throw fail("nval " + std::to_string(nval) + " is more than the " + std::to_string(size - pos) +
                       " bytes left can hold");
        en.values.resize(std::size_t(nval));
        for (float& v : en.values) {
            const std::int32_t bits = i32("a value");
            std::memcpy(&v, &bits, 4);
        }
        for (std::size_t j = 0; j < en.values.size(); ++j)
            if (!std::isfinite(en.values[j]) || en.values[j] < 0)
                throw fail("value " + std::to_string(j) + " is " +
                           (std::isnan(en.values[j]) ? std::string("NaN")
                                                     : std::isinf(en.values[j]) ? "infinite" : "negative") +
                           " (must be a mean of squares)");
        out.entries.push_back(std::move(en));
    }
    where = "trailer";
    if (pos == size) return out;
    out.last_chunk = i32("the chunk count");
    if (out.last_chunk < 0) throw fail("chunk count " + std::to_string(out.last_chunk) + " is negative");
    if (pos == size) return out;
    const std::int32_t dlen = i32("the dataset name length");
    if (dlen < 0 || std::size_t(dlen) != size - pos)
        throw fail("dataset name length " + std::to_string(dlen) + " does not match the " +
                   std::to_string(size - pos) + " bytes left");
    out.dataset.assign(reinterpret_cast<const char*>(data + pos), std::size_t(dlen));
    return out;
}

/// Reads and parses a legacy imatrix file (errc::io when it cannot be read).
inline imatrix_data read_imatrix(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw error(errc::io, "cannot read imatrix file '" + path + "'");
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) throw error(errc::io, "error reading imatrix file '" + path + "'");
    return parse_imatrix(bytes.data(), bytes.size(), path);
}

/// Hugging Face Llama name of a llama.cpp linear weight:
///     "blk.N.attn_q.weight"   → "model.layers.N.self_attn.q_proj.weight"   (attn_k, attn_v, attn_output → k/v/o_proj)
///     "blk.N.ffn_gate.weight" → "model.layers.N.mlp.gate_proj.weight"      (ffn_up, ffn_down → up_proj, down_proj)
///     "output.weight"         → "lm_head.weight"
/// and empty for any other name.
inline std::string llama_to_hf_name(const std::string& name) {
    if (name == "output.weight") return "lm_head.weight";
    static const std::pair<const char*, const char*> map[] = {
        {"attn_q", "self_attn.q_proj"},      {"attn_k", "self_attn.k_proj"},  {"attn_v", "self_attn.v_proj"},
        {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"},   {"ffn_up", "mlp.up_proj"},
        {"ffn_down", "mlp.down_proj"}};
    const std::string head = "blk.", tail = ".weight";
    if (name.size() <= head.size() + tail.size() || name.compare(0, head.size(), head) != 0 ||
        name.compare(name.size() - tail.size(), tail.size(), tail) != 0)
        return "";
    const std::string mid = name.substr(head.size(), name.size() - head.size() - tail.size());  // "3.attn_q"
    const std::size_t dot = mid.find('.');
    if (dot == std::string::npos || dot == 0 || dot > 6) return "";
    const std::string layer = mid.substr(0, dot), leaf = mid.substr(dot + 1);
    if (layer.find_first_not_of("0123456789") != std::string::npos || (layer.size() > 1 && layer[0] == '0')) return "";
    for (const auto& [from, to] : map)
        if (leaf == from) return "model.layers." + layer + "." + to + ".weight";
    return "";
}

/// Per-input-channel statistics of one weight, from an imatrix entry.
struct imatrix_stats {
    std::string weight;                    ///< Hugging Face weight name
    std::vector<float> mean_abs, mean_sq;  ///< √E[x²] (standing in for mean|x|, see the file comment) and E[x²]
    std::int32_t chunks = 0;               ///< ncall of the entry
};

/// Converts every entry (file order). in_features(hf_name) returns the weight's input width, or a negative value when
/// the model has no such weight. `file` names the source in error messages.
inline std::vector<imatrix_stats> imatrix_to_stats(const imatrix_data& d, const std::string& file,
                                                   const std::function<std::int64_t(const std::string&)>& in_features) {
    std::vector<imatrix_stats> out;
    for (std::size_t e = 0; e < d.entries.size(); ++e) {
        const imatrix_entry& en = d.entries[e];
        const std::string where = file + ": entry " + std::to_string(e) + " ('" + en.name + "')";
        imatrix_stats s;
        s.weight = llama_to_hf_name(en.name);
        if (s.weight.empty())
            throw error(errc::unsupported, where + ": not a llama.cpp name this tool maps (blk.N.attn_q/attn_k/attn_v/"
                                                   "attn_output/ffn_gate/ffn_up/ffn_down.weight, output.weight)");
        const std::int64_t cols = in_features(s.weight);
        if (cols < 0) throw error(errc::format, where + ": the model has no weight " + s.weight);
        if (std::int64_t(en.values.size()) != cols)
            throw error(errc::format, where + ": nval " + std::to_string(en.values.size()) + " differs from the " +
                                          std::to_string(cols) + " input features of " + s.weight);
        s.chunks = en.ncall;
        s.mean_sq.resize(en.values.size());
        s.mean_abs.resize(en.values.size());
        for (std::size_t j = 0; j < en.values.size(); ++j) {
            s.mean_sq[j] = float(double(en.values[j]) / double(en.ncall));
            s.mean_abs[j] = float(std::sqrt(double(s.mean_sq[j])));
        }
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace qamw::tools
