// examples/gemv_from_container.cpp — what an inference engine does with a qamw container: load one quantized layer
// and multiply an activation by it straight from the packed codes (no dequantized copy of the matrix).
//   qamw quantize examples/data/stories260K /tmp/s.qamw.safetensors --bpw 5.5
//   example_gemv_from_container /tmp/s.qamw.safetensors model.layers.0.mlp.down_proj.weight
#include <qamw/container.hpp>
#include <qamw/product.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 3) return std::fprintf(stderr, "usage: %s FILE.qamw.safetensors TENSOR\n", argv[0]), 2;
    try {
        qamw::container file = qamw::container::open(argv[1]);  // validates header, payloads, codebook checksums
        qamw::quantized_tensor w = file.load(argv[2]);
        qamw::matmul layer(w);                                  // precomputes signs, scales, norms once
        std::vector<float> x(static_cast<std::size_t>(layer.cols()), 1.0f), y(static_cast<std::size_t>(layer.rows()));
        layer.gemv(x.data(), y.data());                        // y = Ŵ x, rotated-domain dot products
        std::printf("%s: %lld x %lld, %.3f bpw, y[0] = %g (kernels: %s)\n", argv[2], static_cast<long long>(layer.rows()),
                    static_cast<long long>(layer.cols()), w.bits_per_weight(), y[0],
                    qamw::isa_name(qamw::active_kernels().id));
    } catch (const qamw::error& e) {
        return std::fprintf(stderr, "%s\n", e.what()), 1;
    }
}
