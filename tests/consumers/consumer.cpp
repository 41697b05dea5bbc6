// A user's program: encode a small matrix, decode it, check the error is small. Used by all three consumer projects.
#include <qamw/codec.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
    const int rows = 8, cols = 256;
    std::vector<float> w(rows * cols);
    for (int i = 0; i < rows * cols; ++i) w[i] = std::sin(0.37f * i) + 0.1f * std::cos(1.3f * i);
    qamw::params p;
    p.bits = 8;
    auto q = qamw::encode(w.data(), rows, cols, p);
    auto d = qamw::decode(q);
    double num = 0, den = 0;
    for (int i = 0; i < rows * cols; ++i) num += (w[i] - d[i]) * (w[i] - d[i]), den += w[i] * w[i];
    std::printf("consumer: %.3f bpw, relative MSE %.5f, kernels %s\n", q.bits_per_weight(), num / den,
                qamw::isa_name(qamw::active_kernels().id));
    return num / den < 0.02 ? 0 : 1;
}
