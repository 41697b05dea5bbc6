// examples/engine.cpp — qamw inside an inference engine: memory-map a container, prepare each quantized tensor once,
// then run the products on the engine's own threads with the engine's own scratch buffers. Nothing is copied out of
// the mapping, and the per-token calls allocate nothing and start no threads.
//   qamw quantize examples/data/stories260K /tmp/s.qamw.safetensors --bpw 5.5
//   example_engine /tmp/s.qamw.safetensors [THREADS] [OUT.bin]
// For every quantized tensor: y = Ŵ x (GEMV) and Y = Ŵ [x_0 … x_3] (GEMM) for fixed activations x_b[j] = sin(j + b);
// prints a checksum per tensor and, with OUT.bin, writes every y then every Y as raw f32 (the test suite compares
// them bit for bit with the qamw tool's own products).
#include <qamw/container.hpp>
#include <qamw/dispatch.hpp>
#include <qamw/engine.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace {

/// Anonymous resident memory of this process in MB (Linux: RssAnon of /proc/self/status), or -1 elsewhere. Pages of
/// the mapped container are file-backed and not counted: what this measures is what loading copied or allocated.
double anonymous_mb() {
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "RssAnon:", 8) == 0) kb = std::atof(line + 8);
    std::fclose(f);
    return kb / 1024;
}

/// Runs f(t, r0, r1) for `threads` contiguous row ranges of [0, rows) on std::threads (the engine's own pool would do).
template <class F>
void split_rows(std::int64_t rows, int threads, F f) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([=] { f(std::size_t(t), rows * t / threads, rows * (t + 1) / threads); });
    for (auto& th : pool) th.join();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 4) return std::fprintf(stderr, "usage: %s FILE.qamw.safetensors [THREADS] [OUT.bin]\n", argv[0]), 2;
    const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
    if (threads < 1 || threads > 256) return std::fprintf(stderr, "THREADS must be in [1, 256]\n"), 2;
    std::FILE* out = argc > 3 ? std::fopen(argv[3], "wb") : nullptr;
    if (argc > 3 && !out) return std::fprintf(stderr, "cannot write %s\n", argv[3]), 1;
    try {
        // Once, at load time: the kernel set (runtime dispatch here; an engine compiled for one target can pass
        // qamw::simd_kernels<xsimd::avx2>{} instead and have every kernel inlined), the mapping, the prepared tensors.
        const qamw::kernel_table& k = qamw::select_kernels();
        const double anon0 = anonymous_mb();
        const auto t0 = std::chrono::steady_clock::now();
        const qamw::container file = qamw::container::open(argv[1]);  // maps the file; validates header and metadata
        std::vector<std::unique_ptr<qamw::prepared_tensor>> layers;
        double code_mb = 0;
        for (const auto& name : file.quantized_names()) {
            layers.push_back(std::make_unique<qamw::prepared_tensor>(file.view(name)));  // a view into the mapping
            code_mb += double(layers.back()->view().code_bytes()) / (1 << 20);
        }
        const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::printf("load: %zu tensors prepared in %.1f ms; anonymous memory %+.1f MB for %.1f MB of codes (mapped, not "
                    "copied)\n", layers.size(), load_ms, anonymous_mb() - anon0, code_mb);

        constexpr std::size_t m = 4;
        std::vector<float> ys, Ys;
        for (std::size_t l = 0; l < layers.size(); ++l) {
            const qamw::prepared_tensor& t = *layers[l];
            const std::size_t n = std::size_t(t.cols()), np = t.padded(), rows = std::size_t(t.rows());
            // The engine's buffers, sized once from the prepared tensor.
            std::vector<float> x(m * n), xt(m * np), y(rows), Y(m * rows);
            std::vector<std::vector<float>> scratch(std::size_t(threads), std::vector<float>(t.gemm_scratch_floats()));
            for (std::size_t b = 0; b < m; ++b)
                for (std::size_t j = 0; j < n; ++j) x[b * n + j] = float(std::sin(double(j + b)));

            // Per token: rotate the activation once, then any row ranges on any threads.
            for (std::size_t b = 0; b < m; ++b) qamw::rotate(t, x.data() + b * n, xt.data() + b * np, k);
            split_rows(t.rows(), threads, [&](std::size_t, std::int64_t r0, std::int64_t r1) {
                qamw::dot_rows(t, xt.data(), r0, r1, y.data() + r0, k);
            });
            split_rows(t.rows(), threads, [&](std::size_t id, std::int64_t r0, std::int64_t r1) {
                qamw::gemm_rows(t, xt.data(), m, r0, r1, Y.data() + r0, rows, scratch[id].data(), k);
            });
            double sum = 0;
            for (float v : y) sum += v;
            std::printf("%-44s %5lld x %-5lld  sum(y) = %+.6e\n", file.quantized_names()[l].c_str(),
                        static_cast<long long>(t.rows()), static_cast<long long>(t.cols()), sum);
            ys.insert(ys.end(), y.begin(), y.end());
            Ys.insert(Ys.end(), Y.begin(), Y.end());
        }
        std::printf("%zu tensors, kernels: %s, %d threads\n", layers.size(), qamw::isa_name(k.id), threads);
        if (out) {
            bool ok = std::fwrite(ys.data(), 4, ys.size(), out) == ys.size() && std::fwrite(Ys.data(), 4, Ys.size(), out) == Ys.size();
            ok = std::fclose(out) == 0 && ok;
            if (!ok) return std::fprintf(stderr, "cannot write %s\n", argv[3]), 1;
        }
    } catch (const qamw::error& e) {
        if (out) std::fclose(out), std::remove(argv[3]);
        return std::fprintf(stderr, "%s\n", e.what()), 1;
    }
}
