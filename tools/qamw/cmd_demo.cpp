// tools/qamw/cmd_demo.cpp — `qamw demo`: the main job in one command. Quantizes every linear weight of a model
// (default: the vendored stories260K) at 3.5, 4 and 5.5 bits per weight and reports, per rate, the size, the true bpw,
// the reconstruction quality, and encode / decode speed.
#include "commands.hpp"
#include "common/metrics.hpp"
#include "common/selection.hpp"

#include <qamw/codec.hpp>
#include <qamw/io/json.hpp>
#include <qamw/io/safetensors.hpp>

#include <chrono>
#include <cstdio>

namespace qamw::cli {

const command_spec demo_spec{
    "qamw demo [MODEL] [--threads N] [--json]",
    "Quantizes the linear weights of MODEL (a Hugging Face checkpoint directory or .safetensors file; default: the\n"
    "vendored stories260K) at k = 7, 8 and 11 bits per pair (3.5, 4 and 5.5 bits per weight) in memory and reports\n"
    "size, true bits per weight, relative MSE and SQNR of the reconstruction, and encode / decode throughput.",
    {{"threads", "N", "worker threads (default 0 = all cores)"}, {"json", "", "print one JSON object"}},
    0,
    1};

int run_demo(const args& a) {
    using clock = std::chrono::steady_clock;
    std::string model = a.positional.empty() ? QAMW_DEFAULT_MODEL_DIR : a.positional[0];
    int threads = static_cast<int>(a.get_int("threads", 0));
    io::checkpoint ck = io::checkpoint::open(model);
    const bool json = a.has("json");

    struct tensor {
        std::string name;
        std::int64_t rows, cols;
        std::vector<float> w;
    };
    std::vector<tensor> tensors;
    std::size_t weights = 0, source_bytes = 0;
    for (const std::string& name : ck.names()) {
        const io::tensor_info* t = ck.find(name);
        if (!tools::default_selected(name, t->shape)) continue;
        tensors.push_back({name, t->shape[0], t->shape[1], io::to_f32(ck.view(name))});
        weights += tensors.back().w.size();
        source_bytes += t->end - t->begin;
    }
    if (tensors.empty()) throw error(errc::format, model + ": no linear weights to quantize");

    io::json out = io::json::object();
    out.set("model", model);
    out.set("isa", isa_name(active_kernels().id));
    out.set("linear_weights", static_cast<std::int64_t>(weights));
    out.set("source_bytes", static_cast<std::int64_t>(source_bytes));
    io::json& rates = out.set("rates", io::json::array());
    if (!json) {
        std::printf("qamw demo: %s\n%zu linear weights in %zu tensors (%.2f MB as stored), kernels: %s\n\n", model.c_str(),
                    weights, tensors.size(), source_bytes / 1e6, isa_name(active_kernels().id));
        std::printf("%3s %8s %10s %10s %11s %9s %14s %14s\n", "k", "bpw", "bytes", "vs f32", "rel. MSE", "SQNR dB",
                    "encode Mw/s", "decode Mw/s");
    }
    for (int k : {7, 8, 11}) {
        params p;
        p.bits = k;
        p.threads = threads;
        double enc_s = 0, dec_s = 0, err = 0, sig = 0;
        std::size_t bytes = 0;
        for (const tensor& t : tensors) {
            auto t0 = clock::now();
            quantized_tensor q = encode(t.w.data(), t.rows, t.cols, p);
            auto t1 = clock::now();
            std::vector<float> d = decode(q, threads);
            auto t2 = clock::now();
            enc_s += std::chrono::duration<double>(t1 - t0).count();
            dec_s += std::chrono::duration<double>(t2 - t1).count();
            bytes += q.stored_bytes();
            double rel = tools::relative_mse(t.w, d), energy = 0;
            for (float v : t.w) energy += double(v) * v;
            err += rel * energy, sig += energy;
        }
        double rel = err / sig, bpw = 8.0 * double(bytes) / double(weights);
        io::json r = io::json::object();
        r.set("bits_per_pair", k);
        r.set("bpw", bpw);
        r.set("bytes", static_cast<std::int64_t>(bytes));
        r.set("relative_mse", rel);
        r.set("sqnr_db", tools::sqnr_db(rel));
        r.set("encode_mweights_per_s", weights / enc_s / 1e6);
        r.set("decode_mweights_per_s", weights / dec_s / 1e6);
        rates.push_back(r);
        if (!json)
            std::printf("%3d %8.3f %10zu %9.1f%% %11.3e %9.2f %14.1f %14.1f\n", k, bpw, bytes,
                        100.0 * double(bytes) / (4.0 * double(weights)), rel, tools::sqnr_db(rel), weights / enc_s / 1e6,
                        weights / dec_s / 1e6);
    }
    if (json) std::printf("%s\n", out.dump(2).c_str());
    return 0;
}

}  // namespace qamw::cli
