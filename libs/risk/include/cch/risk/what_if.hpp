#pragma once
// What-if margin: a member's initial margin now and with hypothetical trades added, changing
// nothing (docs/margin.md "What if").
//
// "Now" is the member's open legs under the latest published model (risk::member_position, the
// same figure a margin run computes); each hypothetical trade adds the member's side of it
// (margin_store::exposure_under: the model's exposure, or the interim rule for a product the model
// does not cover); the figures after are MemberMargin::with's, exactly what the pre-trade check
// would find if the member's state were current. Nothing is written.
//
// Refusals: unknown_model (no model built yet), invalid_trade (a window not on whole hours or
// empty, GPUs or price out of range; names the trade's index), too_many_trades (more than
// kWhatIfTradesMax).
//
// Thread safety: takes the caller's transaction.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <pqxx/transaction_base>

#include "cch/core/calendar.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/margin/engine.hpp"
#include "cch/margin_store/model_cache.hpp"

namespace cch::risk {

inline constexpr std::size_t kWhatIfTradesMax = 100;

struct HypotheticalTrade {
  ProductId product;
  bool buy = true;         // the member's side
  bool future = false;     // a listed series (margined as a future) or a bilateral forward
  UtcTimestamp delivery_start{0};
  UtcTimestamp delivery_end{0};
  std::int64_t gpus = 0;
  std::int64_t price_ticks = 0;
};

enum class WhatIfRefusal { unknown_model, invalid_trade, too_many_trades };
std::string_view to_string(WhatIfRefusal refusal);

struct WhatIfError {
  WhatIfRefusal refusal = WhatIfRefusal::unknown_model;
  std::string detail;
};

struct WhatIf {
  std::int64_t model_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  std::int64_t open_legs = 0;
  margin::MarginFigures before;
  margin::MarginFigures after;
};

// models: the process's cache of the latest model (margin_store/model_cache.hpp), so that a
// what-if does not read the whole model each time; without one the latest model is read.
Result<WhatIf, WhatIfError> what_if(pqxx::transaction_base& tx, MemberId member, std::span<const HypotheticalTrade> trades,
                                    const BusinessCalendar& clearing_calendar, margin::ModelCache* models = nullptr);

}  // namespace cch::risk
