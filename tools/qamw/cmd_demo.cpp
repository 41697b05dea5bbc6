// tools/qamw/cmd_demo.cpp — `qamw demo`: the main job in one command. Quantizes a model (default: the vendored
// stories260K) into containers at 3.5, 4 and 5.5 bits per weight and reports, per rate, size, true bpw, reconstruction
// error, quantization speed and — when a token file is at hand — perplexity, KL divergence against the f32 model and
// top-1 agreement, with the quantized model running through the fused kernels.
#include "commands.hpp"
#include "common/quantize_model.hpp"
#include "common/temp_registry.hpp"

#include <eval/model_loader.hpp>
#include <eval/perplexity.hpp>
#include "common/json_out.hpp"

#include <cstdio>
#include <filesystem>

#include <unistd.h>

namespace qamw::cli {

const command_spec demo_spec{
    "qamw demo [MODEL] [--tokens FILE] [--ctx N] [--threads N] [--json]",
    "Quantizes the linear weights of MODEL (a Hugging Face checkpoint; default: the vendored stories260K) into\n"
    "containers at k = 7, 8 and 11 bits per pair (3.5, 4 and 5.5 bits per weight) and reports size, true bits per\n"
    "weight, relative MSE and SQNR of the reconstruction and quantization speed. With a token file (default for the\n"
    "vendored model: ../shared/data/tokens/tinystories-valid.tok512.i32 when present) it also evaluates f32 and each\n"
    "container (fused kernels): PPL, delta PPL, mean KL divergence against f32, top-1 agreement, tokens/s.",
    {{"tokens", "FILE", "token ids (little-endian int32) for the quality evaluation"},
     {"ctx", "N", "evaluation window (default 256)", integer(2, 1 << 20)},
     {"threads", "N", "worker threads (default 0 = all cores)", threads()},
     {"json", "", "print one JSON object"}},
    0,
    1};

int run_demo(const args& a) {
    namespace fs = std::filesystem;
    const bool default_model = a.positional.empty();
    const std::string model = default_model ? QAMW_DEFAULT_MODEL_DIR : a.positional[0];
    std::string tokens = a.get("tokens");
    if (tokens.empty() && default_model && fs::exists(QAMW_DEFAULT_TOKENS)) tokens = QAMW_DEFAULT_TOKENS;
    const int threads = static_cast<int>(a.get_int("threads", 0));
    const bool json = a.has("json");
    io::checkpoint ck = io::checkpoint::open(model);
    fs::path tmp = fs::temp_directory_path() / ("qamw_demo_" + std::to_string(::getpid()));
    fs::create_directories(tmp);
    struct cleanup {
        fs::path p;
        tools::temp_registry::scoped registered{p.string(), tools::temp_registry::kind::directory};  // signals
        ~cleanup() { std::error_code ec; fs::remove_all(p, ec); }
    } guard{tmp};

    eval::eval_options eo;
    eo.n_ctx = a.get_int("ctx", 256);
    eo.threads = threads;
    std::vector<std::int32_t> ids;
    std::optional<eval::eval_result> f32;
    if (!tokens.empty()) {
        ids = eval::read_tokens(tokens);
        eval::loaded_model m = eval::load_model(model, {});
        eo.save_base = true;
        f32 = eval::evaluate_perplexity(*m.model, ids, eo);
        eo.save_base = false;
    }

    tools::json_out out = tools::json_out::object();
    out["model"] = model;
    out["isa"] = isa_name(select_kernels().id);
    if (!tokens.empty()) out["tokens"] = tokens, out["f32_ppl"] = f32->ppl;
    tools::json_out& rates = (out["rates"] = tools::json_out::array());
    if (!json) {
        std::printf("qamw demo: %s (kernels: %s)\n", model.c_str(), isa_name(select_kernels().id));
        if (f32)
            std::printf("f32: PPL %.4f on %s (%lld windows of %lld)\n", f32->ppl, tokens.c_str(),
                        static_cast<long long>(f32->windows), static_cast<long long>(f32->n_ctx));
        std::printf("\n%3s %7s %10s %8s %10s %8s %10s", "k", "bpw", "bytes", "vs src", "rel. MSE", "SQNR dB", "quant s");
        if (f32) std::printf(" %9s %8s %9s %7s %9s", "PPL", "dPPL %", "KLD", "top-1", "tok/s");
        std::printf("\n");
    }
    for (int k : {7, 8, 11}) {
        tools::quantize_options opt;
        opt.codec.bits = k;
        opt.threads = threads;
        const std::string file = (tmp / ("k" + std::to_string(k) + ".qamw.safetensors")).string();
        tools::quantize_report rep = tools::quantize_checkpoint(ck, file, opt);
        double err = 0, n = 0, bytes = double(rep.quantized_bytes);
        for (const auto& t : rep.tensors)
            if (t.quantized) err += t.rel_mse * double(t.shape[0] * t.shape[1]), n += double(t.shape[0] * t.shape[1]);
        const double rel = n > 0 ? err / n : 0;
        tools::json_out r = tools::json_out::object();
        r["bits_per_pair"] = k;
        r["bpw"] = rep.bpw_quantized();
        r["quantized_bytes"] = static_cast<std::int64_t>(rep.quantized_bytes);
        r["file_bytes"] = static_cast<std::int64_t>(rep.output_bytes);
        r["relative_mse"] = rel;
        r["sqnr_db"] = tools::sqnr_db(rel);
        r["quantize_seconds"] = rep.seconds;
        std::optional<eval::eval_result> q;
        if (f32) {
            eval::loaded_model m = eval::load_model(file, {});
            eo.compare = &f32->base;
            q = eval::evaluate_perplexity(*m.model, ids, eo);
            r["ppl"] = q->ppl;
            r["delta_ppl_percent"] = 100 * (q->ppl / f32->ppl - 1);
            r["kld_mean"] = q->kld->mean;
            r["top1_agreement"] = q->kld->top1;
            r["tokens_per_second"] = q->tokens_per_second;
        }
        rates.push_back(r);
        if (!json) {
            std::printf("%3d %7.3f %10zu %7.1f%% %10.3e %8.2f %10.2f", k, rep.bpw_quantized(), rep.quantized_bytes,
                        100.0 * bytes / double(rep.quantized_weights * 4), rel, tools::sqnr_db(rel), rep.seconds);
            if (q)
                std::printf(" %9.4f %+8.2f %9.5f %7.4f %9.0f", q->ppl, 100 * (q->ppl / f32->ppl - 1), q->kld->mean,
                            q->kld->top1, q->tokens_per_second);
            std::printf("\n");
        }
    }
    if (json) std::printf("%s\n", tools::dump_json(out).c_str());
    else std::printf("\nbytes: codes + side information of the quantized linear weights; vs src: against those weights in f32.\n");
    return 0;
}

}  // namespace qamw::cli
