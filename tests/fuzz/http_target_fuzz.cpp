// libFuzzer target: cch::http::parse_target and cch::http::percent_decode on arbitrary bytes.
//
// Properties (any violation aborts):
//   - neither function crashes, trips a sanitizer or throws;
//   - percent_decode accepts exactly when every '%' starts a two-hex-digit escape, whatever
//     plus_is_space says, and then the output is 2 bytes shorter per escape; text without '%'
//     and '+' decodes to itself;
//   - percent-encoding any bytes and decoding them gives the bytes back, and "/" followed by that
//     encoding is a target parse_target accepts, with a path that decodes to the bytes;
//   - parse_target accepts only targets starting with '/' made of visible ASCII other than '#';
//     on success target and path are the input and its part before '?', on failure the request
//     is left exactly as it was.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cch/http/message.hpp"
#include "fuzz_check.hpp"

namespace {

using cch::fuzz::check;

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Whether every '%' in text starts a %XX escape; sets escapes to their number.
bool has_valid_escapes(std::string_view text, std::size_t& escapes) {
  escapes = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%')
      continue;
    if (i + 2 >= text.size() || !is_hex_digit(text[i + 1]) || !is_hex_digit(text[i + 2]))
      return false;
    ++escapes;
    i += 2;
  }
  return true;
}

// RFC 3986 percent-encoding that keeps only unreserved characters literal.
std::string percent_encode(std::string_view bytes) {
  constexpr std::string_view hex_digits = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : bytes) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    if (unreserved) {
      encoded.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      encoded.push_back('%');
      encoded.push_back(hex_digits[byte >> 4U]);
      encoded.push_back(hex_digits[byte & 0x0FU]);
    }
  }
  return encoded;
}

bool is_acceptable_target_byte(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte > 0x20 && byte < 0x7f && c != '#';
}

void check_percent_decode(std::string_view text) {
  std::size_t escapes = 0;
  const bool valid = has_valid_escapes(text, escapes);
  const auto plain = cch::http::percent_decode(text, false);
  const auto plus_as_space = cch::http::percent_decode(text, true);
  check(plain.has_value() == valid, "percent_decode accepts exactly the texts with valid %XX escapes");
  check(plus_as_space.has_value() == valid, "plus_is_space does not change what percent_decode accepts");
  if (valid) {
    check(plain->size() == text.size() - 2 * escapes, "each escape decodes to one byte");
    check(plus_as_space->size() == plain->size(), "'+' as a space keeps the length");
    if (text.find_first_of("%+") == std::string_view::npos) {
      check(*plain == text && *plus_as_space == text, "text without '%' and '+' decodes to itself");
    }
  }

  const std::string encoded = percent_encode(text);
  const auto decoded = cch::http::percent_decode(encoded, false);
  check(decoded.has_value() && *decoded == text, "percent_decode(percent_encode(bytes)) == bytes");
  const auto decoded_plus = cch::http::percent_decode(encoded, true);
  check(decoded_plus.has_value() && *decoded_plus == text, "an encoded '+' stays '+' with plus_is_space");

  cch::http::Request request;
  const std::string target = "/" + encoded;
  check(cch::http::parse_target(target, request), "'/' + percent_encode(bytes) is an acceptable target");
  check(request.path == target && request.query_params.empty(), "an encoded target has no query");
  const auto path = cch::http::percent_decode(request.path, false);
  check(path.has_value() && path->substr(1) == text, "the path of an encoded target decodes to the bytes");
}

void check_parse_target(std::string_view target) {
  cch::http::Request request;
  request.target = "sentinel target";
  request.path = "sentinel path";
  request.query_params.emplace_back("sentinel", "value");

  const bool accepted = cch::http::parse_target(target, request);
  bool acceptable_bytes = !target.empty() && target.front() == '/';
  for (const char c : target)
    acceptable_bytes = acceptable_bytes && is_acceptable_target_byte(c);
  if (!accepted) {
    check(request.target == "sentinel target" && request.path == "sentinel path" && request.query_params.size() == 1 &&
              request.query_params[0].first == "sentinel" && request.query_params[0].second == "value",
          "a refused target leaves the request unchanged");
    return;
  }
  check(acceptable_bytes, "parse_target accepts only '/'-led visible ASCII without '#'");
  check(request.target == target, "request.target is the target as sent");
  check(request.path == target.substr(0, target.find('?')), "request.path is the target up to '?'");
  check(cch::http::percent_decode(request.path, false).has_value(), "an accepted path decodes");
  std::size_t pairs = 1;
  for (const char c : target)
    pairs += c == '&' ? 1U : 0U;
  check(request.query_params.size() <= pairs, "no more query parameters than '&'-separated pairs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = cch::fuzz::as_text(data, size);
  check_percent_decode(text);
  check_parse_target(text);
  return 0;
}
