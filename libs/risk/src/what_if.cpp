#include "cch/risk/what_if.hpp"

#include <vector>

#include "cch/core/price.hpp"
#include "cch/margin_store/models.hpp"
#include "cch/pricing/marks.hpp"
#include "cch/risk/margin.hpp"

namespace cch::risk {

std::string_view to_string(WhatIfRefusal refusal) {
  switch (refusal) {
    case WhatIfRefusal::unknown_model: return "unknown_model";
    case WhatIfRefusal::invalid_trade: return "invalid_trade";
    case WhatIfRefusal::too_many_trades: return "too_many_trades";
  }
  return "invalid_trade";
}

Result<WhatIf, WhatIfError> what_if(pqxx::transaction_base& tx, MemberId member, std::span<const HypotheticalTrade> trades,
                                    const BusinessCalendar& clearing_calendar, margin::ModelCache* models) {
  if (trades.size() > kWhatIfTradesMax) {
    return fail(WhatIfError{WhatIfRefusal::too_many_trades,
                            "at most " + std::to_string(kWhatIfTradesMax) + " hypothetical trades"});
  }
  for (std::size_t i = 0; i < trades.size(); ++i) {
    const HypotheticalTrade& t = trades[i];
    const std::int64_t start = t.delivery_start.unix_microseconds();
    const std::int64_t end = t.delivery_end.unix_microseconds();
    if (start % kMicrosecondsPerHour != 0 || end % kMicrosecondsPerHour != 0 || end <= start ||
        (end - start) / kMicrosecondsPerHour > 26'328 || t.gpus < 1 || t.gpus > pricing::kLegGpusMax ||
        t.price_ticks < 1 || t.price_ticks > kPriceTicksMax) {
      return fail(WhatIfError{WhatIfRefusal::invalid_trade,
                              "trade " + std::to_string(i) +
                                  ": a window on whole UTC hours of at most 26,328 hours, 1 to 1,000,000 GPUs and a "
                                  "price from 0.0001 to 1,000.0000 USD per GPU-hour"});
    }
  }
  std::shared_ptr<const margin::PublishedModel> model;
  if (models != nullptr) {
    model = models->current(tx).model;
  } else if (const auto latest = margin::latest_model_record(tx)) {
    auto loaded = margin::load_model(tx, latest->model_id);
    if (loaded) model = std::make_shared<const margin::PublishedModel>(std::move(*loaded));
  }
  if (!model) return fail(WhatIfError{WhatIfRefusal::unknown_model, "no margin model has been built yet"});
  const margin::ModelRecord* record = &model->record;
  auto position = member_position(tx, *model, member, clearing_calendar);
  if (!position) return fail(WhatIfError{WhatIfRefusal::unknown_model, position.error().detail});
  const margin::MemberMargin now(model->model, position->position);
  std::vector<margin::LegExposure> legs;
  for (const HypotheticalTrade& t : trades) {
    const pricing::Leg leg{.leg_id = 0,
                           .side = t.buy ? pricing::Side::buy : pricing::Side::sell,
                           .kind = t.future ? pricing::ContractKind::future : pricing::ContractKind::forward,
                           .delivery_start = t.delivery_start,
                           .delivery_end = t.delivery_end,
                           .gpus = t.gpus,
                           .price_ticks = t.price_ticks,
                           .payment_date = record->business_date};
    legs.push_back(margin::exposure_under(model.get(), model->model.parameters, t.product, leg, clearing_calendar));
  }
  return WhatIf{record->model_id, record->business_date, position->legs, now.figures(), now.with(legs)};
}

}  // namespace cch::risk
