// A user's program: encode a small matrix, decode it, check the error is small. Used by every consumer project.
// Built header-only (qamw::qamw alone) the kernels are those of the compiler's -march (qamw::native_kernels); with
// QAMW_EXPECT_ISA=<name> the program also fails unless that is the instruction set they report (the -march=sandybridge
// consumer expects "avx": real SIMD kernels, not a silent scalar fallback).
#include <qamw/codec.hpp>
#include <qamw/dispatch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
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
    const char* isa = qamw::isa_name(qamw::native_kernels::id);
    std::printf("consumer: %.3f bpw, relative MSE %.5f, compile-time kernels %s, best available %s\n",
                q.bits_per_weight(), num / den, isa, qamw::isa_name(qamw::select_kernels().id));
#ifdef QAMW_EXPECT_ISA
    if (std::strcmp(isa, QAMW_EXPECT_ISA) != 0 || !qamw::kernels_for(qamw::native_kernels::id)) {
        std::printf("consumer: expected the %s kernels\n", QAMW_EXPECT_ISA);
        return 1;
    }
#endif
    return num / den < 0.02 ? 0 : 1;
}
