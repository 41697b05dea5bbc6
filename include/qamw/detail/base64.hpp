// qamw/detail/base64.hpp — RFC 4648 base64 (standard alphabet, '=' padding), for files embedded in container metadata.
#pragma once

#include <qamw/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qamw::detail {

inline std::string base64_encode(const std::uint8_t* p, std::size_t n) {
    static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((n + 2) / 3 * 4);
    for (std::size_t i = 0; i < n; i += 3) {
        std::uint32_t v = std::uint32_t(p[i]) << 16;
        if (i + 1 < n) v |= std::uint32_t(p[i + 1]) << 8;
        if (i + 2 < n) v |= p[i + 2];
        out += a[v >> 18], out += a[(v >> 12) & 63];
        out += i + 1 < n ? a[(v >> 6) & 63] : '=';
        out += i + 2 < n ? a[v & 63] : '=';
    }
    return out;
}

/// Decodes strictly: length a multiple of 4, only alphabet characters, '=' only as final padding. `what` names the
/// source in errors.
inline std::vector<std::uint8_t> base64_decode(std::string_view s, const std::string& what) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        return c == '+' ? 62 : c == '/' ? 63 : -1;
    };
    if (s.size() % 4) throw error(errc::format, what + ": base64 length is not a multiple of 4");
    std::vector<std::uint8_t> out;
    out.reserve(s.size() / 4 * 3);
    for (std::size_t i = 0; i < s.size(); i += 4) {
        int pad = (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=');
        if (pad && i + 4 != s.size()) throw error(errc::format, what + ": base64 padding before the end");
        std::uint32_t v = 0;
        for (int j = 0; j < 4 - pad; ++j) {
            int d = value(s[i + j]);
            if (d < 0) throw error(errc::format, what + ": invalid base64 character");
            v |= std::uint32_t(d) << (18 - 6 * j);
        }
        out.push_back(std::uint8_t(v >> 16));
        if (pad < 2) out.push_back(std::uint8_t(v >> 8));
        if (pad < 1) out.push_back(std::uint8_t(v));
    }
    return out;
}

}  // namespace qamw::detail
