// tools/eval/model_loader.hpp — the models `qamw eval` runs: a Hugging Face checkpoint in f32, the same checkpoint
// with its linear weights replaced by a codec's reconstruction (--fake-quant, for the baselines), or a qamw container
// whose linear layers run through the fused rotated-domain kernels (tools::matmul over qamw/engine.hpp, reading the
// codes straight from the memory-mapped container) — or, for cross-checking, through a dequantized f32 copy.
#pragma once

#include "baselines/registry.hpp"
#include "common/product.hpp"
#include "common/selection.hpp"
#include "eval/llama.hpp"

#include <qamw/container.hpp>
#include <qamw/dispatch.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace qamw::eval {

/// A quantized linear layer: y = x Ŵᵀ computed from the packed codes (tools::matmul::gemm), no dequantized copy. The
/// view borrows the container's mapping, which must outlive the layer.
class qamw_linear : public linear {
public:
    qamw_linear(const quantized_view& v, const kernel_table& k, bool integer) : mm_(v, k, integer), bytes_(v.stored_bytes()) {}
    int64_t in_features() const override { return mm_.cols(); }
    int64_t out_features() const override { return mm_.rows(); }
    void forward(const float* x, int64_t m, float* y) const override { mm_.gemm(x, static_cast<std::size_t>(m), y, 1); }
    std::size_t weight_bytes() const override { return bytes_; }
    void row(int64_t i, float* out) const override { mm_.decode_row(i, out); }

private:
    tools::matmul mm_;
    std::size_t bytes_;
};

/// The tensors of a container as f32: quantized ones decoded, the others widened.
class container_source : public weight_source {
public:
    explicit container_source(const container& c) : c_(c) {}
    std::optional<std::vector<int64_t>> shape(const std::string& name) const override {
        if (c_.is_quantized(name)) return std::vector<int64_t>{c_.meta(name).at("rows").as_int(), c_.meta(name).at("cols").as_int()};
        const io::tensor_info* t = c_.file().find(name);
        if (!t) return std::nullopt;
        return t->shape;
    }
    std::vector<float> load_f32(const std::string& name) const override {
        if (c_.is_quantized(name)) return decode(c_.view(name));
        return io::to_f32(c_.file().view(name));
    }

private:
    const container& c_;
};

struct model_options {
    bool dequantized = false;  ///< container: run decode-then-f32 instead of the fused kernels
    std::string fake_quant;    ///< checkpoint: codec spec ("polar:8", "rtn32:4", ...) applied to the selected linears
    int threads = 0;           ///< for fake quantization
    const kernel_table* kernels = nullptr;  ///< the fused kernels' instruction set (nullptr: select_kernels())
    bool integer = false;      ///< container: the products on the integer-domain kernels (tools::matmul)
    input_observer observe;    ///< when set, sees every linear's input (observe_inputs; `qamw stats`)
};

/// A loaded model and what its linear weights cost.
struct loaded_model {
    std::unique_ptr<container> file;  ///< a container's mapping, which the model's quantized layers read (declared
                                      ///< before the model, so destroyed after it)
    std::unique_ptr<llama_model> model;
    std::string kind;             ///< "f32", "qamw (fused)", "qamw (dequantized)", "fake-quant polar:8"
    double linear_bits = 0, linear_weights = 0;
    double bpw() const { return linear_weights > 0 ? linear_bits / linear_weights : 32.0; }
};

/// True when `path` is a file whose safetensors metadata says format = qamw.
inline bool is_container(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    const io::safetensors_file file = io::safetensors_file::open(path);  // find_metadata points into it
    const std::string* f = file.find_metadata("format");
    return f && *f == "qamw";
}

inline loaded_model load_model(const std::string& path, const model_options& opt) {
    loaded_model out;
    if (is_container(path)) {
        if (!opt.fake_quant.empty()) throw error(errc::invalid_argument, "--fake-quant applies to checkpoints, not containers");
        out.file = std::make_unique<container>(container::open(path));
        const container& c = *out.file;
        const kernel_table& kernels = opt.kernels ? *opt.kernels : select_kernels();
        auto cfg_bytes = c.embedded_file("config.json");
        if (!cfg_bytes) throw error(errc::format, path + ": no embedded config.json");
        llama_config cfg = parse_llama_config(
            io::json::parse(std::string(cfg_bytes->begin(), cfg_bytes->end()), path + ": config.json"), path + ": config.json");
        container_source src(c);
        linear_factory dense = dense_factory(src);
        linear_factory factory = [&](const std::string& name) -> std::unique_ptr<linear> {
            if (!c.is_quantized(name)) return dense(name);
            const quantized_view q = c.view(name);
            out.linear_bits += 8.0 * double(q.stored_bytes());
            out.linear_weights += double(q.rows) * double(q.cols());
            if (opt.dequantized) return std::make_unique<dense_linear>(decode(q, serial{}, kernels), q.rows, q.cols());
            return std::make_unique<qamw_linear>(q, kernels, opt.integer);
        };
        out.model = std::make_unique<llama_model>(cfg, src, opt.observe ? observe_inputs(factory, opt.observe) : factory);
        out.kind = opt.dequantized ? "qamw (dequantized to f32)"
                   : opt.integer   ? "qamw (fused integer kernels)"
                                   : "qamw (fused kernels)";
        return out;
    }
    if (opt.integer) throw error(errc::invalid_argument, "--integer applies to containers, not checkpoints");
    llama_checkpoint m = llama_checkpoint::open(path);
    checkpoint_source src(m.ckpt);
    linear_factory dense = dense_factory(src);
    linear_factory factory = dense;
    out.kind = "f32";
    if (!opt.fake_quant.empty()) {
        baselines::codec_spec spec = baselines::parse_codec(opt.fake_quant);
        factory = [&, spec](const std::string& name) -> std::unique_ptr<linear> {
            auto shape = src.shape(name);
            if (!shape || !tools::default_selected(name, *shape)) return dense(name);
            std::vector<float> w = src.load_f32(name);
            baselines::result r = baselines::reconstruct(spec, w.data(), (*shape)[0], (*shape)[1], nullptr, opt.threads);
            out.linear_bits += r.bits;
            out.linear_weights += double(w.size());
            return std::make_unique<dense_linear>(std::move(r.w_hat), (*shape)[0], (*shape)[1]);
        };
        out.kind = "fake-quant " + baselines::to_string(spec);
    }
    out.model = std::make_unique<llama_model>(m.config, src, opt.observe ? observe_inputs(factory, opt.observe) : factory);
    return out;
}

}  // namespace qamw::eval
