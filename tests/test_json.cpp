// Tests of qamw/detail/json.hpp: strict RFC 8259 parsing (accept and reject suites), value access, serialization.
#include <qamw/detail/json.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using qamw::io::json;

namespace {

json parse(const std::string& s) { return json::parse(s, "test.json"); }

// The message of the error parse() throws, or "" if it does not throw a qamw::error(errc::format).
std::string parse_error(const std::string& s) {
    try {
        parse(s);
    } catch (const qamw::error& e) {
        return e.code() == qamw::errc::format ? std::string(e.what()) : std::string("wrong code: ") + e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("json: accepts the RFC grammar", "[json]") {
    const std::vector<std::string> good = {
        "null", "true", "false", "0", "-0", "1", "-1", "0.5", "-0.5", "1e3", "1E3", "1e+3", "1e-3", "1.5e10",
        "123456789", "\"\"", "\"abc\"", "[]", "{}", " [ 1 , 2 ] ", "\t\r\n{\"a\" : [true, false, null]}\n",
        "[[[[]]]]", "{\"a\":{\"b\":{\"c\":{}}}}", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0000\"", "\"\\u00e9\"",
        "\"\\uD83D\\uDE00\"", "\"\\ud83d\\ude00\"", "\"h\xC3\xA9llo\"", "\"\xE2\x82\xAC\"", "\"\xF0\x9F\x98\x80\"",
        "\"\xEF\xBF\xBF\"", "\"\xF4\x8F\xBF\xBF\"", "\"\x7F\"", "1.7976931348623157e308", "4.9e-324",
        "9223372036854775807", "-9223372036854775808", "18446744073709551616", "{\"\":0}",
    };
    for (const auto& s : good) {
        INFO(s);
        REQUIRE_NOTHROW(parse(s));
    }
}

TEST_CASE("json: rejects malformed input with a located message", "[json]") {
    struct bad_case {
        std::string text, message;
    };
    const std::vector<bad_case> bad = {
        {"", "expected a value"},
        {"   ", "expected a value"},
        {"nul", "invalid literal"},
        {"True", "expected a value"},
        {"[1,]", "expected a value"},
        {"[1 2]", "expected ',' or ']'"},
        {"{\"a\" 1}", "expected ':'"},
        {"{\"a\":1,}", "expected a string key"},
        {"{a:1}", "expected a string key"},
        {"{'a':1}", "expected a string key"},
        {"[1]]", "unexpected data after the JSON value"},
        {"1 2", "unexpected data after the JSON value"},
        {"{}x", "unexpected data after the JSON value"},
        {"[", "expected a value, found the end of the input"},
        {"[1", "expected ',' or ']', found the end of the input"},
        {"{\"a\":1", "expected ',' or '}'"},
        {"01", "leading zeros"},
        {"-01", "leading zeros"},
        {"00", "leading zeros"},
        {"+1", "expected a value"},
        {".5", "expected a value"},
        {"1.", "expected a digit after '.'"},
        {"1.e3", "expected a digit after '.'"},
        {"1e", "expected a digit in the exponent"},
        {"1e+", "expected a digit in the exponent"},
        {"-", "expected a digit"},
        {"-a", "expected a digit"},
        {"0x10", "unexpected data"},
        {"NaN", "expected a value"},
        {"Infinity", "expected a value"},
        {"-Infinity", "expected a digit"},
        {"1e309", "number out of double range"},
        {"-1e309", "number out of double range"},
        {"1e-400", "number out of double range"},
        {"1" + std::string(400, '0'), "number out of double range"},
        {"\"abc", "unterminated string"},
        {"\"abc\\", "unterminated string"},
        {"\"a\nb\"", "raw control character"},
        {"\"a\tb\"", "raw control character"},
        {std::string("\"a\0b\"", 5), "raw control character"},
        {"\"\\x\"", "invalid escape sequence"},
        {"\"\\u12G4\"", "invalid hex digit"},
        {"\"\\u12\"", "truncated \\u escape"},
        {"\"\\u12", "truncated \\u escape"},
        {"\"\\uD800\"", "lone high surrogate"},
        {"\"\\uD800\\n\"", "lone high surrogate"},
        {"\"\\uD800\\u0041\"", "high surrogate not followed by a low surrogate"},
        {"\"\\uD800\\uD800\"", "high surrogate not followed by a low surrogate"},
        {"\"\\uDC00\"", "lone low surrogate"},
        {"\"\\uDFFF\\uD800\"", "lone low surrogate"},
        {"\"\xC0\x80\"", "invalid UTF-8"},          // overlong NUL
        {"\"\xC1\xBF\"", "invalid UTF-8"},          // overlong 2-byte
        {"\"\xE0\x80\xAF\"", "invalid UTF-8"},      // overlong '/'
        {"\"\xE0\x9F\xBF\"", "invalid UTF-8"},      // overlong 3-byte
        {"\"\xF0\x8F\xBF\xBF\"", "invalid UTF-8"},  // overlong 4-byte
        {"\"\xED\xA0\x80\"", "invalid UTF-8"},      // encoded surrogate U+D800
        {"\"\xED\xBF\xBF\"", "invalid UTF-8"},      // encoded surrogate U+DFFF
        {"\"\xF4\x90\x80\x80\"", "invalid UTF-8"},  // U+110000
        {"\"\xF5\x80\x80\x80\"", "invalid UTF-8"},
        {"\"\xFF\"", "invalid UTF-8"},
        {"\"\x80\"", "invalid UTF-8"},  // lone continuation byte
        {"\"\xC3\"", "invalid UTF-8"},  // truncated at the closing quote
        {"\"\xE2\x82\"", "invalid UTF-8"},
        {"\"\xF0\x9F\x98\"", "invalid UTF-8"},
        {"\"\xE2\x82", "invalid UTF-8"},  // truncated at the end of the input
        {"\xEF\xBB\xBF{}", "expected a value"},  // byte order mark
        {"[\xC3\xA9]", "expected a value"},      // non-ASCII outside strings
        {"{\"a\":1,\"a\":2}", "duplicate key 'a'"},
        {"{\"a\":1,\"\\u0061\":2}", "duplicate key 'a'"},  // equal after unescaping
        {"/* c */ 1", "expected a value"},
        {"[1,\v2]", "expected a value"},
    };
    for (const auto& b : bad) {
        INFO("input: " << b.text);
        std::string msg = parse_error(b.text);
        REQUIRE_FALSE(msg.empty());
        CHECK_THAT(msg, Catch::StartsWith("test.json: line "));
        CHECK_THAT(msg, Catch::Contains(b.message));
    }
}

TEST_CASE("json: error positions are line and column", "[json]") {
    REQUIRE_THROWS_WITH(json::parse("{\n  \"a\": 1\n  \"b\": 2\n}", "config.json"),
                        "config.json: line 3, column 3: expected ',' or '}', found '\"'");
    REQUIRE_THROWS_WITH(json::parse("[1,\n2,\n03]", "x"), Catch::Contains("x: line 3, column 2: leading zeros"));
    // The duplicate key is reported where its second occurrence starts.
    REQUIRE_THROWS_WITH(json::parse("{\"k\": 1,\n \"k\": 2}", "f.json"),
                        "f.json: line 2, column 2: duplicate key 'k'");
}

TEST_CASE("json: duplicate keys are found in large objects too", "[json]") {
    std::string s = "{";
    for (int i = 0; i < 200; ++i) s += "\"key" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    std::string ok = s + "\"last\":0}";
    REQUIRE(parse(ok).members().size() == 201);
    REQUIRE_THROWS_WITH(parse(s + "\"key7\":0}"), Catch::Contains("duplicate key 'key7'"));
    REQUIRE_THROWS_WITH(parse(s + "\"key199\":0}"), Catch::Contains("duplicate key 'key199'"));
}

TEST_CASE("json: nesting depth is capped at 128 without recursion trouble", "[json]") {
    auto nest = [](int depth, char open, char close, const std::string& inner) {
        std::string s;
        for (int i = 0; i < depth; ++i) s += open == '{' ? "{\"k\":" : "[";
        s += inner;
        for (int i = 0; i < depth; ++i) s += close;
        return s;
    };
    REQUIRE(parse(nest(128, '[', ']', "1")).is_array());
    REQUIRE(parse(nest(127, '{', '}', "{}")).is_object());
    REQUIRE_THROWS_WITH(parse(nest(129, '[', ']', "1")), Catch::Contains("nesting deeper than 128 levels"));
    REQUIRE_THROWS_WITH(parse(nest(129, '{', '}', "1")), Catch::Contains("nesting deeper than 128 levels"));
    REQUIRE_THROWS_WITH(parse(std::string(10000, '[')), Catch::Contains("nesting deeper than 128 levels"));
    REQUIRE_THROWS_WITH(parse(std::string(100000, '[') + std::string(100000, ']')),
                        Catch::Contains("nesting deeper than 128 levels"));
    REQUIRE_THROWS_WITH(parse(nest(10000, '{', '}', "1")), Catch::Contains("nesting deeper than 128 levels"));
}

TEST_CASE("json: numbers keep integers exact", "[json]") {
    json a = parse("9007199254740993");  // 2^53 + 1: not a double
    REQUIRE(a.is_int());
    REQUIRE(a.as_int() == 9007199254740993LL);
    REQUIRE(parse("9223372036854775807").as_int() == std::numeric_limits<int64_t>::max());
    REQUIRE(parse("-9223372036854775808").as_int() == std::numeric_limits<int64_t>::min());
    json big = parse("9223372036854775808");  // beyond int64: a double
    REQUIRE(big.is_number());
    REQUIRE_FALSE(big.is_int());
    REQUIRE(big.as_double() == 9223372036854775808.0);
    REQUIRE_THROWS_WITH(big.as_int(), Catch::Contains("expected an integer"));

    REQUIRE(parse("2048.0").as_int() == 2048);  // integral double
    REQUIRE_FALSE(parse("2048.0").is_int());
    REQUIRE(parse("1e3").as_int() == 1000);
    REQUIRE_THROWS_WITH(parse("1.5").as_int(), Catch::Contains("expected an integer"));
    REQUIRE_THROWS_AS(parse("\"1\"").as_int(), qamw::error);
    REQUIRE(parse("0.1").as_double() == 0.1);
    REQUIRE(parse("-2.5e-3").as_double() == -2.5e-3);
    REQUIRE(parse("4.9e-324").as_double() == std::numeric_limits<double>::denorm_min());
    REQUIRE(parse("1.7976931348623157e308").as_double() == std::numeric_limits<double>::max());
    json mz = parse("-0");
    REQUIRE(mz.as_double() == 0.0);
    REQUIRE(std::signbit(mz.as_double()));
    REQUIRE(parse("7").as_double() == 7.0);
}

TEST_CASE("json: strings are unescaped to UTF-8", "[json]") {
    REQUIRE(parse("\"\\u00e9\\u20AC\"").as_string() == "\xC3\xA9\xE2\x82\xAC");
    REQUIRE(parse("\"\\uD83D\\uDE00\"").as_string() == "\xF0\x9F\x98\x80");
    REQUIRE(parse("\"\\uDBFF\\uDFFF\"").as_string() == "\xF4\x8F\xBF\xBF");
    REQUIRE(parse("\"\\u0000\"").as_string() == std::string(1, '\0'));
    REQUIRE(parse("\"a\\/b\\\\c\\\"d\\n\"").as_string() == "a/b\\c\"d\n");
    REQUIRE(parse("\"\xF0\x9F\x98\x80\"").as_string() == "\xF0\x9F\x98\x80");
}

TEST_CASE("json: accessors and building", "[json]") {
    json j = parse("{\"b\": 1, \"a\": [true, null, \"x\"], \"c\": {\"d\": 2.5}}");
    REQUIRE(j.type() == json::kind::object);
    REQUIRE(j.members().size() == 3);
    REQUIRE(j.members()[0].first == "b");  // file order, not sorted
    REQUIRE(j.members()[1].first == "a");
    REQUIRE(j.at("a").items().size() == 3);
    REQUIRE(j.at("a").items()[0].as_bool());
    REQUIRE(j.at("a").items()[1].is_null());
    REQUIRE(j.at("a").items()[2].as_string() == "x");
    REQUIRE(j.at("c").at("d").as_double() == 2.5);
    REQUIRE(j.find("zzz") == nullptr);
    REQUIRE_THROWS_WITH(j.at("zzz"), Catch::Contains("missing key 'zzz'"));
    try {
        j.at("zzz");
    } catch (const qamw::error& e) {
        REQUIRE(e.code() == qamw::errc::format);
    }
    REQUIRE_THROWS_AS(j.items(), qamw::error);
    REQUIRE_THROWS_AS(j.at("b").as_string(), qamw::error);
    REQUIRE_THROWS_AS(j.at("b").find("x"), qamw::error);

    json o = json::object();
    o.set("z", 1);
    o.set("y", "two");
    o.set("z", 3);  // replaces in place
    REQUIRE(o.members().size() == 2);
    REQUIRE(o.members()[0].first == "z");
    REQUIRE(o.at("z").as_int() == 3);
    json& arr = o.set("arr", json::array());
    arr.push_back(1);
    arr.push_back(json::object()).set("k", nullptr);
    arr.push_back(uint64_t{18446744073709551615ULL});
    REQUIRE(o.dump() == "{\"z\":3,\"y\":\"two\",\"arr\":[1,{\"k\":null},18446744073709551616.0]}");  // as a double
    REQUIRE_THROWS_AS(o.push_back(1), qamw::error);
    REQUIRE_THROWS_AS(arr.set("k", 1), qamw::error);
    REQUIRE(json().is_null());
    REQUIRE(json(true).is_bool());
    REQUIRE(json(2.0).is_number());
    REQUIRE(json(std::string("s")).is_string());
    REQUIRE(json(5u).as_int() == 5);
    REQUIRE(json(int64_t{-5}).as_int() == -5);
}

TEST_CASE("json: dump is compact or indented and round-trips", "[json]") {
    json j = parse("{\"a\":[1,2.5,\"x\"],\"b\":{},\"c\":[],\"d\":{\"e\":null}}");
    REQUIRE(j.dump() == "{\"a\":[1,2.5,\"x\"],\"b\":{},\"c\":[],\"d\":{\"e\":null}}");
    REQUIRE(j.dump(2) ==
            "{\n  \"a\": [\n    1,\n    2.5,\n    \"x\"\n  ],\n  \"b\": {},\n  \"c\": [],\n"
            "  \"d\": {\n    \"e\": null\n  }\n}");
    REQUIRE(parse(j.dump(2)).dump() == j.dump());

    // Doubles: shortest round-trip form, integral doubles keep a ".0".
    REQUIRE(json(0.1).dump() == "0.1");
    REQUIRE(json(1.0).dump() == "1.0");
    REQUIRE(json(-0.0).dump() == "-0.0");
    REQUIRE(json(1e21).dump() == "1e+21");
    REQUIRE(json(10000.0).dump() == "10000.0");
    REQUIRE(json(int64_t{-9223372036854775807LL - 1}).dump() == "-9223372036854775808");
    REQUIRE(parse("10000.0").dump() == "10000.0");
    REQUIRE_FALSE(parse(json(10000.0).dump()).is_int());
    const double values[] = {0.1, 1.0 / 3.0, 2.0 / 3.0, 1e-300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                             123456789.123456789, -7.25e-7, 3.0e15, 6.02214076e23};
    for (double d : values) {
        INFO(d);
        std::string s = json(d).dump();
        REQUIRE(s.size() <= 25);  // 17 significant digits at most, plus sign, point and exponent
        REQUIRE(parse(s).as_double() == d);
    }
    REQUIRE_THROWS_AS(json(std::nan("")).dump(), qamw::error);
    REQUIRE_THROWS_AS(json(std::numeric_limits<double>::infinity()).dump(), qamw::error);
    try {
        json(-std::numeric_limits<double>::infinity()).dump();
        FAIL("no throw");
    } catch (const qamw::error& e) {
        REQUIRE(e.code() == qamw::errc::non_finite);
    }
}

TEST_CASE("json: strings are escaped on dump and validated", "[json]") {
    std::string raw = std::string("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f") + std::string(1, '\0') + "\xC3\xA9\xF0\x9F\x98\x80";
    std::string s = json(raw).dump();
    REQUIRE(s == "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\\u0000\xC3\xA9\xF0\x9F\x98\x80\"");
    REQUIRE(parse(s).as_string() == raw);
    REQUIRE_THROWS_WITH(json("bad\xFF").dump(), Catch::Contains("not valid UTF-8"));
    json o = json::object();
    o.set("\xED\xA0\x80", 1);
    REQUIRE_THROWS_AS(o.dump(), qamw::error);
    REQUIRE(json::is_valid_utf8("abc\xC3\xA9"));
    REQUIRE_FALSE(json::is_valid_utf8("abc\xC3"));
}

TEST_CASE("json: every 2-byte and 3-byte UTF-8 sequence agrees with a code point decoder", "[json]") {
    // Exhaustive over lead bytes C0..EF and continuation ranges: valid iff it decodes to a non-surrogate code point
    // that needs exactly that many bytes.
    for (unsigned a = 0xC0; a <= 0xDF; ++a)
        for (unsigned b = 0; b <= 0xFF; ++b) {
            std::string s{static_cast<char>(a), static_cast<char>(b)};
            bool cont = (b & 0xC0) == 0x80;
            unsigned cp = ((a & 0x1F) << 6) | (b & 0x3F);
            bool valid = cont && cp >= 0x80;
            REQUIRE(json::is_valid_utf8(s) == valid);
        }
    for (unsigned a = 0xE0; a <= 0xEF; ++a)
        for (unsigned b = 0x70; b <= 0xCF; ++b)
            for (unsigned c : {0x7Fu, 0x80u, 0xBFu, 0xC0u}) {
                std::string s{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)};
                bool cont = (b & 0xC0) == 0x80 && (c & 0xC0) == 0x80;
                unsigned cp = ((a & 0x0F) << 12) | ((b & 0x3F) << 6) | (c & 0x3F);
                bool valid = cont && cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
                REQUIRE(json::is_valid_utf8(s) == valid);
            }
}
