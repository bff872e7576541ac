#include "cch/pricing/curve_set.hpp"

#include <bit>
#include <cassert>
#include <cstdio>
#include <utility>

#include "cch/core/sha256.hpp"

namespace cch::pricing {

namespace {

void append_bits(std::string& text, double value) {
  char digits[17];
  std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(std::bit_cast<std::uint64_t>(value)));
  text.append(digits, 16);
}

void append_text_field(std::string& text, std::string_view field) {
  text += std::to_string(field.size());
  text += ':';
  text += field;
}

}  // namespace

Result<CurveSet, CurveError> build_curve_set(BusinessDate as_of, std::span<const OisQuote> ois_quotes,
                                             std::span<const ProductQuotes> products, std::vector<std::string> inputs) {
  auto discount = build_discount_curve(as_of, ois_quotes);
  if (!discount) {
    return fail(discount.error());
  }
  // The discount curve refuses an as-of date after 2169-12-31, so the next day exists.
  const auto first_day = as_of.add_days(1);
  assert(first_day.has_value());
  std::map<ProductId, ForwardCurve> forwards;
  for (const ProductQuotes& product : products) {
    if (forwards.contains(product.product_id)) {
      return fail(CurveError{CurveRefusal::duplicate_product,
                             "product " + product.product_id.to_string() + " is given twice", product.product_id});
    }
    auto forward = build_forward_curve(*first_day, product.last_day, product.tick_size_ticks, product.quotes);
    if (!forward) {
      return fail(CurveError{forward.error().reason,
                             "product " + product.product_id.to_string() + ": " + forward.error().detail,
                             product.product_id});
    }
    forwards.emplace(product.product_id, std::move(forward.value().curve));
  }
  return CurveSet{as_of, std::move(discount.value().curve), std::move(forwards), std::move(inputs),
                  std::string(kCurveMethodVersion)};
}

std::string canonical_serialisation(const CurveSet& set) {
  std::string text = "cch-curve-set/1\nas_of=" + set.as_of.format() + "\nmethod=";
  append_text_field(text, set.method_version);
  text += "\ndiscount_nodes=" + std::to_string(set.discount.nodes().size()) + "\n";
  for (const DiscountNode& node : set.discount.nodes()) {
    text += "node=" + node.date.format() + " ";
    append_bits(text, node.discount_factor);
    text += '\n';
  }
  text += "forward_curves=" + std::to_string(set.forwards.size()) + "\n";
  for (const auto& [product_id, curve] : set.forwards) {
    text += "forward=" + product_id.to_string() + " first_day=" + curve.first_day().format() +
            " days=" + std::to_string(curve.daily_prices().size()) + "\n";
    for (const double price : curve.daily_prices()) {
      append_bits(text, price);
      text += '\n';
    }
  }
  text += "inputs=" + std::to_string(set.inputs.size()) + "\n";
  for (const std::string& input : set.inputs) {
    text += "input=";
    append_text_field(text, input);
    text += '\n';
  }
  return text;
}

std::string content_hash(const CurveSet& set) {
  return sha256_hex(canonical_serialisation(set));
}

}  // namespace cch::pricing
