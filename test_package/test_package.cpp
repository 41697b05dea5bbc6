// The Conan test package (also built by the test suite as a find_package consumer): encode and decode through the
// header-only core with the dispatched kernels, and ask the C interface for its version.
#include <qamw/codec.hpp>
#include <qamw/dispatch.hpp>
#include <qamw/qamw.h>
#include <qamw/version.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

int main() {
    const int rows = 4, cols = 128;
    std::vector<float> w(rows * cols);
    for (int i = 0; i < rows * cols; ++i) w[i] = std::sin(0.1f * float(i));
    qamw::params p;
    p.bits = 9;
    const qamw::kernel_table& k = qamw::select_kernels();
    const qamw::quantized_tensor q = qamw::encode(w.data(), rows, cols, p, nullptr, qamw::serial{}, k);
    const std::vector<float> d = qamw::decode(q, qamw::serial{}, k);
    double num = 0, den = 0;
    for (int i = 0; i < rows * cols; ++i) num += (w[i] - d[i]) * (w[i] - d[i]), den += w[i] * w[i];
    std::printf("test_package: qamw %s, kernels %s, relative MSE %.5f\n", qamw_version(), qamw::isa_name(k.id), num / den);
    return num / den < 0.01 && std::strcmp(qamw_version(), qamw::version_string) == 0 ? 0 : 1;
}
