// examples/encode_decode.cpp — quantize a weight matrix at 5.5 bits per weight and measure what was lost.
#include <qamw/codec.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
    const std::int64_t rows = 512, cols = 1536;
    std::vector<float> w(rows * cols);
    std::mt19937 rng(42);
    std::student_t_distribution<float> heavy(4.0f);  // heavier tails than a Gaussian, like real weights
    for (auto& v : w) v = 0.02f * heavy(rng);

    qamw::params p;
    p.bits = 11;  // bits per pair: 5.5 bits per weight for the codes
    qamw::quantized_tensor q = qamw::encode(w.data(), rows, cols, p);
    std::vector<float> back = qamw::decode(q);

    double err = 0, sig = 0;
    for (std::size_t i = 0; i < w.size(); ++i) err += std::pow(w[i] - back[i], 2), sig += std::pow(w[i], 2);
    std::printf("%lld x %lld, k = %d: %.4f bits/weight, %zu bytes (f32: %zu), SQNR %.2f dB, kernels %s\n",
                static_cast<long long>(rows), static_cast<long long>(cols), q.bits, q.bits_per_weight(),
                q.stored_bytes(), w.size() * 4, -10 * std::log10(err / sig), qamw::isa_name(qamw::native_kernels::id));
}
