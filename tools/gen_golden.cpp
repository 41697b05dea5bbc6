// tools/gen_golden.cpp — writes the golden vectors of tests/golden/ (cases and layout: tools/common/golden.hpp): one
// file per case holding a fixed input's exact encoding and exact decoding, and one complete container file.
// tests/test_golden.cpp holds every build, ISA and machine (x86-64; AArch64 under qemu, scripts/arm.sh) to them.
//
// Usage: qamw_gen_golden <output dir>    (normally tests/golden/; regenerate only for a deliberate format or codebook
// change, and say so in the commit). The encodings are made with the scalar kernels; nothing is written unless every
// other available ISA gives the same bytes and bits.
#include <common/golden.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

int main(int argc, char** argv) {
    using namespace qamw;
    namespace golden = qamw::tools::golden;
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <output dir>\n", argv[0]);
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    std::vector<golden::record> records;
    for (const golden::spec& s : golden::specs()) {
        const golden::input in = golden::make_input(s);
        golden::record r;
        r.s = s;
        r.input_fnv = golden::checksum(in);
        const kernel_table& ref = require_kernels(isa::scalar);
        r.q = golden::encode_case(s, in, 1, ref);
        r.decoded = decode(r.q, serial{}, ref);
        for (isa other : available_isas()) {
            const kernel_table& k = require_kernels(other);
            const quantized_tensor q = golden::encode_case(s, in, 3, k);
            if (q.codes != r.q.codes || q.norms.f16 != r.q.norms.f16 || q.norms.exp2 != r.q.norms.exp2 ||
                q.col_scales != r.q.col_scales || q.layout.padded != r.q.layout.padded ||
                q.layout.block != r.q.layout.block ||
                std::memcmp(decode(r.q, serial{}, k).data(), r.decoded.data(), 4 * r.decoded.size()) != 0) {
                std::fprintf(stderr, "%s: %s differs from scalar; not writing golden data\n", s.name.c_str(),
                             isa_name(other));
                return 1;
            }
        }
        records.push_back(std::move(r));
    }
    std::size_t total = 0;
    for (const golden::record& r : records) {
        const std::vector<std::uint8_t> b = golden::to_bytes(r);
        std::ofstream f(dir / r.s.name, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
        if (!f) {
            std::fprintf(stderr, "cannot write %s\n", (dir / r.s.name).string().c_str());
            return 1;
        }
        total += b.size();
    }
    golden::write_container((dir / "container.qamw.safetensors").string(), records);
    std::printf("wrote %zu golden files (%zu bytes) and container.qamw.safetensors to %s\n", records.size(), total,
                dir.string().c_str());
    return 0;
}
