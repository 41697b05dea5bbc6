// qamw/detail/json.hpp — a small strict JSON value, parser and serializer (RFC 8259), no dependency.
//
// A detail of the readers (safetensors headers, model.safetensors.index.json, container metadata; the tools also read
// config.json with it); the tools write their reports with nlohmann/json (tools/common/json_out.hpp). Namespace
// qamw::io, as container metadata is handed out as io::json. A value is one of
// null, boolean, number, string, array, object. Numbers keep an int64 exactly when their literal is an integer
// (no fraction, no exponent, within int64); every other number is a double. Objects keep their members in insertion
// (file) order.
//
// The parser is strict and never trusts its input:
//   - exactly one value, optionally surrounded by the four JSON whitespace characters; anything after it is an error;
//   - numbers follow the RFC grammar (no leading zeros, no '+', no '.5', no '1.', no hex, no NaN/Infinity) and
//     must fit a double: literals that overflow to infinity or underflow to zero are rejected ("number out of double
//     range");
//   - strings must be valid UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF, no truncated
//     sequences), must not contain raw control characters (< 0x20), and \u escapes must pair surrogates correctly
//     (a valid pair is combined into one code point; a lone high or low surrogate is an error);
//   - nesting deeper than 128 arrays/objects is an error (the parser recurses at most 128 levels, never overflowing the
//     stack, so 10000 '[' are reported, not crashed on);
//   - an object with the same key twice (after unescaping) is an error "duplicate key 'k'".
// Every parse error is a qamw::error(errc::format) whose message is "<what>: line L, column C: <problem>" with 1-based
// line and byte column, `what` naming the source (a file path, "model.safetensors header", ...).
//
// Memory: a parsed value costs 40 bytes per JSON value (72 per object member) plus its string storage, so a hostile
// input such as "[0,0,0,...]" costs up to ~20x its size; callers that read untrusted files cap the text size first
// (safetensors headers and index files: 100 MiB).
#pragma once

#include <qamw/error.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace qamw::io {

class json {
public:
    enum class kind { null, boolean, number, string, array, object };
    using member = std::pair<std::string, json>;

    json() = default;
    json(std::nullptr_t) {}
    json(bool b) : v_(b) {}
    json(double d) : v_(d) {}
    json(int64_t i) : v_(i) {}
    json(int i) : v_(int64_t{i}) {}
    /// Values above INT64_MAX are stored as the nearest double (is_int() is then false).
    json(uint64_t u) {
        if (u <= static_cast<uint64_t>(INT64_MAX)) v_ = static_cast<int64_t>(u);
        else v_ = static_cast<double>(u);
    }
    /// Any other integer type (unsigned, short, long long, size_t, ...), same rules as int64_t / uint64_t.
    template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, int> &&
                                            !std::is_same_v<T, int64_t> && !std::is_same_v<T, uint64_t>,
                                        int> = 0>
    json(T v) : json(std::is_signed_v<T> ? json(static_cast<int64_t>(v)) : json(static_cast<uint64_t>(v))) {}
    json(const char* s) : v_(std::string(s)) {}
    json(std::string s) : v_(std::move(s)) {}
    json(std::string_view s) : v_(std::string(s)) {}
    static json array() { json j; j.v_ = std::vector<json>(); return j; }
    static json object() { json j; j.v_ = std::vector<member>(); return j; }

    kind type() const {
        switch (v_.index()) {
            case 0: return kind::null;
            case 1: return kind::boolean;
            case 2: case 3: return kind::number;
            case 4: return kind::string;
            case 5: return kind::array;
            default: return kind::object;
        }
    }
    bool is_null() const { return type() == kind::null; }
    bool is_bool() const { return type() == kind::boolean; }
    bool is_number() const { return type() == kind::number; }
    /// True for a number held exactly as an int64 (an integer literal within int64, or built from an integer).
    bool is_int() const { return v_.index() == 3; }
    bool is_string() const { return type() == kind::string; }
    bool is_array() const { return type() == kind::array; }
    bool is_object() const { return type() == kind::object; }

    /// The number as a double (int64 values are converted). Throws errc::format unless a number.
    double as_double() const {
        if (auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
        return *std::get_if<double>(&expect(kind::number).v_);
    }
    /// The number as an int64. Throws errc::format unless a number with an integral value in int64 range
    /// (an integer literal, or a double such as 2048.0).
    int64_t as_int() const {
        if (auto* i = std::get_if<int64_t>(&v_)) return *i;
        double d = *std::get_if<double>(&expect(kind::number).v_);
        // [-2^63, 2^63) is exactly the int64 range, and both bounds are doubles.
        if (std::trunc(d) == d && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            return static_cast<int64_t>(d);
        throw error(errc::format,
                    "json: expected an integer, found " + (std::isfinite(d) ? dump() : "a non-finite number"));
    }
    bool as_bool() const { return *std::get_if<bool>(&expect(kind::boolean).v_); }
    const std::string& as_string() const { return *std::get_if<std::string>(&expect(kind::string).v_); }
    /// The elements of an array. Throws errc::format unless an array.
    const std::vector<json>& items() const { return *std::get_if<std::vector<json>>(&expect(kind::array).v_); }
    /// The members of an object in insertion order. Throws errc::format unless an object.
    const std::vector<member>& members() const { return *std::get_if<std::vector<member>>(&expect(kind::object).v_); }

    /// Object lookup (linear); nullptr if absent. Throws errc::format unless an object.
    const json* find(std::string_view key) const {
        for (const auto& m : members())
            if (m.first == key) return &m.second;
        return nullptr;
    }
    /// Object lookup; throws errc::format "missing key 'x'" if absent (or unless an object).
    const json& at(std::string_view key) const {
        if (const json* j = find(key)) return *j;
        throw error(errc::format, "json: missing key '" + std::string(key) + "'");
    }
    /// Appends to an array and returns the new element (the reference, like those from set(), stays valid until the
    /// next push_back/set on the same container). Throws errc::invalid_argument unless an array.
    json& push_back(json v) {
        auto* a = std::get_if<std::vector<json>>(&v_);
        if (!a) throw error(errc::invalid_argument, "json: push_back on a " + std::string(kind_name(type())));
        a->push_back(std::move(v));
        return a->back();
    }
    /// Inserts (at the end) or replaces (in place) an object member; returns the stored value. Linear in the size.
    /// Throws errc::invalid_argument unless an object.
    json& set(std::string key, json v) {
        auto* o = std::get_if<std::vector<member>>(&v_);
        if (!o) throw error(errc::invalid_argument, "json: set on a " + std::string(kind_name(type())));
        for (auto& m : *o)
            if (m.first == key) return m.second = std::move(v);
        o->emplace_back(std::move(key), std::move(v));
        return o->back().second;
    }

    /// Serializes. indent < 0: compact, no whitespace; indent >= 0: one member/element per line, indented by `indent`
    /// spaces per level. Integers are printed exactly; doubles in the shortest form that reads back to the same double
    /// (at most 17 significant digits), with ".0" appended when that form looks like an integer, so the kind survives a
    /// round trip. Throws errc::non_finite for NaN/Inf and errc::invalid_argument for a string that is not valid UTF-8.
    std::string dump(int indent = -1) const {
        std::string out;
        dump_to(out, indent, 0);
        return out;
    }

    /// Parses `text` strictly (see the file comment). `what` names the source in error messages.
    static json parse(std::string_view text, const std::string& what) {
        parser p{text, what, 0};
        p.skip_ws();
        json j = p.value(0);
        p.skip_ws();
        if (p.pos != text.size()) p.fail("unexpected data after the JSON value");
        return j;
    }

    static const char* kind_name(kind k) {
        switch (k) {
            case kind::null: return "null";
            case kind::boolean: return "boolean";
            case kind::number: return "number";
            case kind::string: return "string";
            case kind::array: return "array";
            case kind::object: return "object";
        }
        return "?";
    }

    /// Length of the valid UTF-8 sequence starting at s[0] (1..4), or 0 if s does not start with one (Unicode
    /// Table 3-7: no overlong forms, no surrogates U+D800..DFFF, nothing above U+10FFFF, no truncation).
    static std::size_t utf8_sequence_length(std::string_view s) {
        if (s.empty()) return 0;
        auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
        unsigned c = b(0);
        if (c < 0x80) return 1;
        std::size_t n;
        unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF) n = 2;
        else if (c >= 0xE0 && c <= 0xEF) { n = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else return 0;
        if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
        for (std::size_t i = 2; i < n; ++i)
            if (b(i) < 0x80 || b(i) > 0xBF) return 0;
        return n;
    }

    /// True if `s` is entirely valid UTF-8 (see utf8_sequence_length).
    static bool is_valid_utf8(std::string_view s) {
        for (std::size_t i = 0; i < s.size();) {
            std::size_t n = utf8_sequence_length(s.substr(i));
            if (n == 0) return false;
            i += n;
        }
        return true;
    }

    static constexpr int max_depth = 128;  ///< deepest accepted nesting of arrays/objects

private:
    std::variant<std::nullptr_t, bool, double, int64_t, std::string, std::vector<json>, std::vector<member>> v_;

    const json& expect(kind k) const {
        if (type() != k)
            throw error(errc::format,
                        std::string("json: expected a ") + kind_name(k) + ", found a " + kind_name(type()));
        return *this;
    }

    static void dump_string(std::string& out, const std::string& s) {
        static const char hex[] = "0123456789abcdef";
        out += '"';
        for (std::size_t i = 0; i < s.size();) {
            unsigned char c = static_cast<unsigned char>(s[i]);
            if (c >= 0x80) {
                std::size_t n = utf8_sequence_length(std::string_view(s).substr(i));
                if (n == 0)
                    throw error(errc::invalid_argument, "json: string is not valid UTF-8 at byte " + std::to_string(i));
                out.append(s, i, n);
                i += n;
                continue;
            }
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default:
                    if (c < 0x20) {
                        out += "\\u00";
                        out += hex[c >> 4];
                        out += hex[c & 15];
                    } else {
                        out += static_cast<char>(c);
                    }
            }
            ++i;
        }
        out += '"';
    }

    static void newline(std::string& out, int indent, int level) {
        if (indent < 0) return;
        out += '\n';
        out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
    }

    void dump_to(std::string& out, int indent, int level) const {
        char buf[32];
        switch (v_.index()) {
            case 0: out += "null"; return;
            case 1: out += std::get<bool>(v_) ? "true" : "false"; return;
            case 2: {
                double d = std::get<double>(v_);
                if (!std::isfinite(d)) throw error(errc::non_finite, "json: cannot serialize a NaN or infinite number");
                auto r = std::to_chars(buf, buf + sizeof buf, d);
                std::string_view t(buf, static_cast<std::size_t>(r.ptr - buf));
                out += t;
                if (t.find_first_of(".e") == std::string_view::npos) out += ".0";
                return;
            }
            case 3: {
                auto r = std::to_chars(buf, buf + sizeof buf, std::get<int64_t>(v_));
                out.append(buf, r.ptr);
                return;
            }
            case 4: dump_string(out, std::get<std::string>(v_)); return;
            case 5: {
                const auto& a = std::get<std::vector<json>>(v_);
                out += '[';
                for (std::size_t i = 0; i < a.size(); ++i) {
                    if (i) out += ',';
                    newline(out, indent, level + 1);
                    a[i].dump_to(out, indent, level + 1);
                }
                if (!a.empty()) newline(out, indent, level);
                out += ']';
                return;
            }
            default: {
                const auto& o = std::get<std::vector<member>>(v_);
                out += '{';
                for (std::size_t i = 0; i < o.size(); ++i) {
                    if (i) out += ',';
                    newline(out, indent, level + 1);
                    dump_string(out, o[i].first);
                    out += indent < 0 ? ":" : ": ";
                    o[i].second.dump_to(out, indent, level + 1);
                }
                if (!o.empty()) newline(out, indent, level);
                out += '}';
                return;
            }
        }
    }

    struct parser {
        std::string_view text;
        const std::string& what;
        std::size_t pos;

        [[noreturn]] void fail(const std::string& msg) const { fail_at(pos, msg); }
        [[noreturn]] void fail_at(std::size_t at, const std::string& msg) const {
            std::size_t line = 1, col = 1;
            for (std::size_t i = 0; i < at && i < text.size(); ++i) {
                if (text[i] == '\n') { ++line; col = 1; }
                else ++col;
            }
            throw error(errc::format,
                        what + ": line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + msg);
        }
        bool eof() const { return pos >= text.size(); }
        char peek() const { return text[pos]; }
        void skip_ws() {
            while (!eof() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos;
        }
        static std::string describe(char c) {
            unsigned char u = static_cast<unsigned char>(c);
            if (u >= 0x21 && u < 0x7F) return std::string("'") + c + "'";
            static const char hex[] = "0123456789ABCDEF";
            return std::string("byte 0x") + hex[u >> 4] + hex[u & 15];
        }
        void expect_char(char c) {
            if (eof()) fail(std::string("expected '") + c + "', found the end of the input");
            if (peek() != c) fail(std::string("expected '") + c + "', found " + describe(peek()));
            ++pos;
        }

        json value(int depth) {
            if (eof()) fail("expected a value, found the end of the input");
            char c = peek();
            switch (c) {
                case '{': return object(depth + 1);
                case '[': return array(depth + 1);
                case '"': return json(string());
                case 't': literal("true"); return json(true);
                case 'f': literal("false"); return json(false);
                case 'n': literal("null"); return json();
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) return number();
                    fail("expected a value, found " + describe(c));
            }
        }
        void literal(std::string_view word) {
            if (text.substr(pos, word.size()) != word) fail("invalid literal (expected '" + std::string(word) + "')");
            pos += word.size();
        }
        void check_depth(int depth) const {
            if (depth > max_depth) fail("nesting deeper than " + std::to_string(max_depth) + " levels");
        }
        json array(int depth) {
            check_depth(depth);
            ++pos;  // '['
            json j = json::array();
            auto& a = std::get<std::vector<json>>(j.v_);
            skip_ws();
            if (!eof() && peek() == ']') { ++pos; return j; }
            for (;;) {
                skip_ws();
                a.push_back(value(depth));
                skip_ws();
                if (!eof() && peek() == ']') { ++pos; return j; }
                if (eof()) fail("expected ',' or ']', found the end of the input");
                if (peek() != ',') fail("expected ',' or ']', found " + describe(peek()));
                ++pos;
            }
        }
        json object(int depth) {
            check_depth(depth);
            ++pos;  // '{'
            json j = json::object();
            auto& o = std::get<std::vector<member>>(j.v_);
            std::unordered_set<std::string> seen;  // used only for large objects; small ones are scanned
            skip_ws();
            if (!eof() && peek() == '}') { ++pos; return j; }
            for (;;) {
                skip_ws();
                if (eof() || peek() != '"') fail(eof() ? "expected a string key, found the end of the input"
                                                       : "expected a string key, found " + describe(peek()));
                std::size_t key_pos = pos;
                std::string key = string();
                bool dup = false;
                if (o.size() < 16) {
                    for (const auto& m : o) dup = dup || m.first == key;
                } else {
                    if (seen.empty())
                        for (const auto& m : o) seen.insert(m.first);
                    dup = !seen.insert(key).second;
                }
                if (dup) fail_at(key_pos, "duplicate key '" + key + "'");
                skip_ws();
                expect_char(':');
                skip_ws();
                json v = value(depth);
                o.emplace_back(std::move(key), std::move(v));
                skip_ws();
                if (!eof() && peek() == '}') { ++pos; return j; }
                if (eof()) fail("expected ',' or '}', found the end of the input");
                if (peek() != ',') fail("expected ',' or '}', found " + describe(peek()));
                ++pos;
            }
        }
        unsigned hex4() {
            if (text.size() - pos < 4) fail("truncated \\u escape");
            unsigned v = 0;
            for (int i = 0; i < 4; ++i) {
                char c = text[pos++];
                v <<= 4;
                if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
                else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
                else { --pos; fail("invalid hex digit in \\u escape"); }
            }
            return v;
        }
        static void append_utf8(std::string& s, unsigned cp) {
            if (cp < 0x80) {
                s += static_cast<char>(cp);
            } else if (cp < 0x800) {
                s += static_cast<char>(0xC0 | (cp >> 6));
                s += static_cast<char>(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                s += static_cast<char>(0xE0 | (cp >> 12));
                s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                s += static_cast<char>(0x80 | (cp & 0x3F));
            } else {
                s += static_cast<char>(0xF0 | (cp >> 18));
                s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
                s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                s += static_cast<char>(0x80 | (cp & 0x3F));
            }
        }
        std::string string() {
            ++pos;  // '"'
            std::string s;
            for (;;) {
                if (eof()) fail("unterminated string");
                unsigned char c = static_cast<unsigned char>(peek());
                if (c == '"') { ++pos; return s; }
                if (c < 0x20) fail("raw control character " + describe(static_cast<char>(c)) + " in a string");
                if (c >= 0x80) {
                    std::size_t n = utf8_sequence_length(text.substr(pos));
                    if (n == 0) fail("invalid UTF-8 in a string");
                    s.append(text.data() + pos, n);
                    pos += n;
                    continue;
                }
                if (c != '\\') { s += static_cast<char>(c); ++pos; continue; }
                std::size_t esc = pos++;
                if (eof()) fail("unterminated string");
                char e = text[pos++];
                switch (e) {
                    case '"': s += '"'; break;
                    case '\\': s += '\\'; break;
                    case '/': s += '/'; break;
                    case 'b': s += '\b'; break;
                    case 'f': s += '\f'; break;
                    case 'n': s += '\n'; break;
                    case 'r': s += '\r'; break;
                    case 't': s += '\t'; break;
                    case 'u': {
                        unsigned cp = hex4();
                        if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at(esc, "lone low surrogate in \\u escape");
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                            if (text.substr(pos, 2) != "\\u") fail_at(esc, "lone high surrogate in \\u escape");
                            pos += 2;
                            unsigned lo = hex4();
                            if (lo < 0xDC00 || lo > 0xDFFF)
                                fail_at(esc, "high surrogate not followed by a low surrogate");
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        }
                        append_utf8(s, cp);
                        break;
                    }
                    default: pos = esc; fail("invalid escape sequence");
                }
            }
        }
        json number() {
            std::size_t start = pos;
            auto digit = [&] { return !eof() && peek() >= '0' && peek() <= '9'; };
            bool integral = true;
            if (peek() == '-') ++pos;
            if (!digit()) fail("expected a digit");
            if (peek() == '0') {
                ++pos;
                if (digit()) fail("leading zeros are not allowed");
            } else {
                while (digit()) ++pos;
            }
            if (!eof() && peek() == '.') {
                integral = false;
                ++pos;
                if (!digit()) fail("expected a digit after '.'");
                while (digit()) ++pos;
            }
            if (!eof() && (peek() == 'e' || peek() == 'E')) {
                integral = false;
                ++pos;
                if (!eof() && (peek() == '+' || peek() == '-')) ++pos;
                if (!digit()) fail("expected a digit in the exponent");
                while (digit()) ++pos;
            }
            const char* b = text.data() + start;
            const char* e = text.data() + pos;
            // "-0" is kept as the double -0.0 so that its sign survives.
            if (integral && !(e - b == 2 && b[0] == '-')) {
                int64_t i = 0;
                auto r = std::from_chars(b, e, i);
                if (r.ec == std::errc() && r.ptr == e) return json(i);
            }
            double d = 0;
            auto r = std::from_chars(b, e, d);
            if (r.ec == std::errc::result_out_of_range) fail_at(start, "number out of double range");
            if (r.ec != std::errc() || r.ptr != e) fail_at(start, "invalid number");
            return json(d);
        }
    };
};

}  // namespace qamw::io
