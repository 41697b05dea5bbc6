// tools/eval/act_stats_file.hpp — the activation statistics file written by `qamw stats` and read by
// `qamw quantize --act-stats`: its in-memory form, writer and validating reader (tools/eval/act_stats.hpp measures it).
//
// File layout: a safetensors file (qamw/io/safetensors.hpp), for every linear weight "<w>" (the checkpoint tensor
// name, e.g. "model.layers.0.self_attn.q_proj.weight"):
//     tensor "<w>.mean_abs"   F32 [in_features]
//     tensor "<w>.mean_sq"    F32 [in_features]
//     metadata "<w>.tokens"   decimal count T of recorded rows (> 0)
// plus metadata "format" = "qamw-act-stats", "version" = "1", and informational "n_ctx" and "windows". Tensors are
// written in model order (layer by layer; q, k, v, o, gate, up, down; lm_head last).
// Optional second moments (`qamw stats --second-moments`), for every group "<g>" of weights that read one input
// (tools/common/awq.hpp's awq_group_key: "model.layers.3.self_attn.qkv", "model.layers.3.mlp.gate_up", or the weight
// name itself for o_proj, down_proj and the tied lm_head "model.embed_tokens.weight"):
//     tensor "<g>.second_moment"         F32 [in_features, in_features], row-major: E[x xᵀ] over the recorded rows
//     metadata "<g>.second_moment.tokens" decimal count T of recorded rows (> 0)
// written after the per-channel tensors. read_act_stats skips them; second_moment_file reads one group at a time and
// checks shape, finiteness, diagonal ≥ 0 and symmetry (|m_ij − m_ji| ≤ 1e-4·√(m_ii·m_jj) + 1e-30), naming the file
// and the tensor. Positive semi-definiteness is checked where it is used (a Cholesky factorisation after damping,
// tools/common/feedback.hpp).
// read_act_stats checks the format and version, that every tensor is a finite 1-D F32 pair with matching lengths,
// mean_abs ≥ 0, mean_sq ≥ 0 and mean_abs² ≤ mean_sq·(1 + 1e-5) (Cauchy–Schwarz), that every weight has its token count,
// and that nothing else is in the file; errors name the file and the tensor.
#pragma once

#include "common/temp_registry.hpp"

#include <qamw/error.hpp>
#include <qamw/io/safetensors.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qamw::eval {

/// Statistics of one linear layer's input.
struct channel_stats {
    std::vector<float> mean_abs, mean_sq;  ///< [in_features]
    int64_t tokens = 0;                     ///< rows recorded
};

/// E[x xᵀ] of one group's input.
struct second_moment {
    std::vector<float> m;  ///< in × in, row-major, symmetric
    int64_t in = 0;
    int64_t tokens = 0;
};

/// All layers of a model, in model order.
struct act_stats {
    std::vector<std::pair<std::string, channel_stats>> layers;  ///< (weight name, statistics)
    std::vector<std::pair<std::string, second_moment>> moments; ///< (group key, E[x xᵀ]); empty unless gathered
    int64_t n_ctx = 0, windows = 0;                              ///< informational

    const channel_stats* find(const std::string& weight) const {
        for (const auto& l : layers)
            if (l.first == weight) return &l.second;
        return nullptr;
    }
};

inline constexpr const char* act_stats_format = "qamw-act-stats";

/// What a statistics file holds, known before any of its statistics: the tensors' names, input widths and token counts
/// (`qamw stats` derives it from the model's configuration and writes the statistics as the layers finish).
struct act_stats_layout {
    struct entry {
        std::string name;    ///< weight name (per-channel statistics) or group key (second moment)
        int64_t in = 0;      ///< input width
        int64_t tokens = 0;  ///< recorded rows
    };
    std::vector<entry> channels;     ///< per-channel statistics, model order
    std::vector<entry> moments;      ///< second moments, model order (empty: none)
    int64_t n_ctx = 0, windows = 0;  ///< informational
};

/// Writes a statistics file in the layout of the file comment, its parts in any order as they become ready, each
/// second moment in pieces of rows (so that none is ever held whole). The header is written by the constructor; the
/// file is atomic (io::safetensors_writer with the tools' signal-time cleanup): nothing is at the path until commit()
/// succeeds, and a writer destroyed before leaves no file behind.
class act_stats_writer {
public:
    /// Throws errc::invalid_argument naming the tensor when an entry is empty (in or tokens ≤ 0) or a name repeats.
    act_stats_writer(const std::string& path, const act_stats_layout& layout)
        : w_(path, tools::temp_registry::file_hooks()) {
        w_.set_metadata("format", act_stats_format);
        w_.set_metadata("version", "1");
        w_.set_metadata("n_ctx", std::to_string(layout.n_ctx));
        w_.set_metadata("windows", std::to_string(layout.windows));
        for (const auto& e : layout.channels) {
            if (e.in <= 0 || e.tokens <= 0)
                throw error(errc::invalid_argument, "act stats of " + e.name + ": empty or inconsistent");
            w_.add(e.name + ".mean_abs", io::dtype::f32, {e.in});
            w_.add(e.name + ".mean_sq", io::dtype::f32, {e.in});
            w_.set_metadata(e.name + ".tokens", std::to_string(e.tokens));
            widths_[e.name] = e.in;
        }
        for (const auto& e : layout.moments) {
            if (e.in <= 0 || e.tokens <= 0)
                throw error(errc::invalid_argument, "second moment of " + e.name + ": empty or inconsistent");
            w_.add(e.name + ".second_moment", io::dtype::f32, {e.in, e.in});
            w_.set_metadata(e.name + ".second_moment.tokens", std::to_string(e.tokens));
        }
        w_.begin();
    }

    /// The per-channel statistics of `weight` (each as long as its declared input width).
    void write_channels(const std::string& weight, const std::vector<float>& mean_abs,
                        const std::vector<float>& mean_sq) {
        auto it = widths_.find(weight);
        if (it == widths_.end())
            throw error(errc::invalid_argument, "act stats of " + weight + ": not declared in the file's layout");
        if (int64_t(mean_abs.size()) != it->second || int64_t(mean_sq.size()) != it->second)
            throw error(errc::invalid_argument, "act stats of " + weight + ": " + std::to_string(mean_abs.size()) +
                                                    " and " + std::to_string(mean_sq.size()) + " channels, declared " +
                                                    std::to_string(it->second));
        put(weight + ".mean_abs", mean_abs.data(), mean_abs.size());
        put(weight + ".mean_sq", mean_sq.data(), mean_sq.size());
    }

    /// The next `n` values (whole rows, row-major) of E[x xᵀ] of `group`, after those written before.
    void write_moment_part(const std::string& group, const float* m, std::size_t n) {
        put(group + ".second_moment", m, n);
    }

    /// Checks that everything declared was written, then renames the file into place.
    void commit() { w_.commit(); }

private:
    io::safetensors_writer w_;
    std::unordered_map<std::string, int64_t> widths_;  ///< weight → input width
    std::vector<uint8_t> bytes_;                        ///< little-endian staging of one piece

    void put(const std::string& tensor, const float* v, std::size_t n) {
        bytes_.resize(n * 4);
        for (std::size_t i = 0; i < n; ++i) {
            uint32_t u;
            std::memcpy(&u, &v[i], 4);
            for (int k = 0; k < 4; ++k) bytes_[4 * i + std::size_t(k)] = uint8_t(u >> (8 * k));
        }
        w_.write_part(tensor, bytes_.data(), bytes_.size());
    }
};

/// Writes `s` atomically in the layout of the file comment.
inline void write_act_stats(const std::string& path, const act_stats& s) {
    act_stats_layout layout;
    layout.n_ctx = s.n_ctx;
    layout.windows = s.windows;
    for (const auto& [name, c] : s.layers) {
        if (c.mean_abs.empty() || c.mean_abs.size() != c.mean_sq.size())
            throw error(errc::invalid_argument, "act stats of " + name + ": empty or inconsistent");
        layout.channels.push_back({name, int64_t(c.mean_abs.size()), c.tokens});
    }
    for (const auto& [key, m] : s.moments) {
        if (m.m.size() != std::size_t(m.in * m.in))
            throw error(errc::invalid_argument, "second moment of " + key + ": empty or inconsistent");
        layout.moments.push_back({key, m.in, m.tokens});
    }
    act_stats_writer w(path, layout);
    for (const auto& [name, c] : s.layers) w.write_channels(name, c.mean_abs, c.mean_sq);
    for (const auto& [key, m] : s.moments) w.write_moment_part(key, m.m.data(), m.m.size());
    w.commit();
}

/// Reads and validates a statistics file (see the file comment for every check).
inline act_stats read_act_stats(const std::string& path) {
    io::safetensors_file f = io::safetensors_file::open(path);
    auto bad = [&](const std::string& msg) { return error(errc::format, path + ": " + msg); };
    const std::string* format = f.find_metadata("format");
    if (!format || *format != act_stats_format)
        throw bad("not an activation statistics file (metadata format must be \"qamw-act-stats\")");
    const std::string* version = f.find_metadata("version");
    if (!version || *version != "1")
        throw error(errc::unsupported, path + ": activation statistics version " + (version ? *version : "(none)") +
                                           " (this build reads version 1)");
    auto parse_count = [&](const std::string& key, bool required) -> int64_t {
        const std::string* v = f.find_metadata(key);
        if (!v) {
            if (required) throw bad("missing metadata \"" + key + "\"");
            return 0;
        }
        if (v->empty() || v->size() > 18 || v->find_first_not_of("0123456789") != std::string::npos)
            throw bad("metadata \"" + key + "\" is not a decimal count: \"" + *v + "\"");
        return std::stoll(*v);
    };
    act_stats s;
    s.n_ctx = parse_count("n_ctx", false);
    s.windows = parse_count("windows", false);
    std::vector<const io::tensor_info*> order;  // by data offset = write order
    for (const io::tensor_info& t : f.tensors()) order.push_back(&t);
    const std::string abs_suffix = ".mean_abs", sq_suffix = ".mean_sq";
    auto ends_with = [](const std::string& s, const std::string& suf) {
        return s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
    };
    auto load = [&](const io::tensor_info& t) {
        if (t.type != io::dtype::f32 || t.shape.size() != 1 || t.shape[0] <= 0)
            throw bad("tensor " + t.name + " must be F32 with one non-empty dimension");
        std::vector<float> v = io::to_f32(f.view(t));
        for (float x : v)
            if (!std::isfinite(x) || x < 0) throw bad("tensor " + t.name + " holds a negative, NaN or infinite value");
        return v;
    };
    std::size_t pairs = 0, moments = 0;
    for (const io::tensor_info* t : order) {
        if (ends_with(t->name, sq_suffix)) continue;  // read with its mean_abs partner
        if (ends_with(t->name, ".second_moment")) {   // read on demand by second_moment_file
            ++moments;
            continue;
        }
        if (!ends_with(t->name, abs_suffix))
            throw bad("unexpected tensor " + t->name + " (only <weight>.mean_abs and <weight>.mean_sq belong here)");
        const std::string weight = t->name.substr(0, t->name.size() - abs_suffix.size());
        const io::tensor_info* sq = f.find(weight + sq_suffix);
        if (!sq) throw bad("tensor " + t->name + " has no " + weight + sq_suffix);
        channel_stats c;
        c.mean_abs = load(*t);
        c.mean_sq = load(*sq);
        if (c.mean_abs.size() != c.mean_sq.size())
            throw bad(weight + ": mean_abs and mean_sq have different lengths");
        for (std::size_t j = 0; j < c.mean_abs.size(); ++j)
            if (double(c.mean_abs[j]) * c.mean_abs[j] > double(c.mean_sq[j]) * (1 + 1e-5) + 1e-30)
                throw bad(weight + ": channel " + std::to_string(j) + " has mean_abs² > mean_sq (impossible)");
        c.tokens = parse_count(weight + ".tokens", true);
        if (c.tokens <= 0) throw bad("metadata \"" + weight + ".tokens\" must be > 0");
        s.layers.emplace_back(weight, std::move(c));
        ++pairs;
    }
    if (2 * pairs + moments != f.tensors().size())
        throw bad("a .mean_sq tensor has no .mean_abs partner");
    if (s.layers.empty()) throw bad("no statistics in the file");
    return s;
}

/// The second moments of a statistics file, read one group at a time (the file stays mapped).
class second_moment_file {
public:
    /// Opens `path` and checks that it is a statistics file (format and version as read_act_stats checks them).
    static second_moment_file open(const std::string& path) {
        second_moment_file s;
        s.f_ = io::safetensors_file::open(path);
        const std::string* format = s.f_.find_metadata("format");
        if (!format || *format != act_stats_format)
            throw error(errc::format, path + ": not an activation statistics file (metadata format must be \"qamw-act-stats\")");
        for (const io::tensor_info& t : s.f_.tensors())
            if (t.name.size() > 14 && t.name.compare(t.name.size() - 14, 14, ".second_moment") == 0) ++s.count_;
        return s;
    }

    const std::string& path() const { return f_.path(); }
    /// Number of groups with second moments (0: the file was written without --second-moments).
    std::size_t count() const { return count_; }
    bool has(const std::string& group) const { return f_.find(group + ".second_moment") != nullptr; }

    /// E[x xᵀ] of `group` (in × in floats, row-major), validated as the file comment says. Throws errc::format naming
    /// the file and the tensor when it is absent, of another shape, non-finite or not symmetric.
    std::vector<float> load(const std::string& group, int64_t in) const {
        const std::string name = group + ".second_moment";
        auto bad = [&](const std::string& msg) { return error(errc::format, f_.path() + ": tensor " + name + ": " + msg); };
        const io::tensor_info* t = f_.find(name);
        if (!t)
            throw bad(count_ ? "missing (no second moments for this group)"
                             : "missing: the file has no second moments (write it with `qamw stats --second-moments`)");
        if (t->type != io::dtype::f32 || t->shape.size() != 2 || t->shape[0] != in || t->shape[1] != in)
            throw bad("expected F32 [" + std::to_string(in) + ", " + std::to_string(in) + "], the weight's input width");
        std::vector<float> m = io::to_f32(f_.view(*t));
        const std::size_t n = std::size_t(in);
        for (std::size_t i = 0; i < n; ++i) {
            const double d = m[i * n + i];
            if (!std::isfinite(d) || d < 0) throw bad("diagonal entry " + std::to_string(i) + " is negative, NaN or infinite");
        }
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < i; ++j) {
                const double a = m[i * n + j], b = m[j * n + i];
                if (!std::isfinite(a) || !std::isfinite(b))
                    throw bad("entry (" + std::to_string(i) + ", " + std::to_string(j) + ") is NaN or infinite");
                if (std::fabs(a - b) > 1e-4 * std::sqrt(double(m[i * n + i]) * m[j * n + j]) + 1e-30)
                    throw bad("not symmetric at (" + std::to_string(i) + ", " + std::to_string(j) + ")");
            }
        return m;
    }

private:
    io::safetensors_file f_;
    std::size_t count_ = 0;
};

}  // namespace qamw::eval
