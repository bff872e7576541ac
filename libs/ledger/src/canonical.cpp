#include "cch/ledger/canonical.hpp"

namespace cch::ledger {
namespace {

void field(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out.push_back(':');
  out.append(value);
  out.push_back(';');
}

void field(std::string& out, std::int64_t value) { field(out, std::to_string(value)); }

}  // namespace

std::string content_encoding(const StoredJournal& journal) {
  std::string out = "cch-journal-v1;";
  out.reserve(128 + journal.postings.size() * 48);
  field(out, journal.idempotency_key);
  field(out, journal.business_date);
  field(out, journal.kind);
  field(out, journal.cause_kind);
  field(out, journal.cause_reference);
  field(out, journal.reverses_journal_id ? std::to_string(*journal.reverses_journal_id) : std::string());
  field(out, journal.memo);
  field(out, static_cast<std::int64_t>(journal.postings.size()));
  for (const StoredPosting& posting : journal.postings) {
    field(out, posting.line_number);
    field(out, posting.account_id);
    field(out, posting.currency);
    field(out, posting.amount_minor);
  }
  return out;
}

Sha256Digest content_hash(const StoredJournal& journal) { return sha256(content_encoding(journal)); }

StoredJournal to_stored(const JournalDraft& draft) {
  StoredJournal journal;
  journal.idempotency_key = draft.idempotency_key;
  journal.business_date = draft.business_date.format();
  journal.kind = std::string(to_string(draft.kind));
  journal.cause_kind = std::string(to_string(draft.cause.kind));
  journal.cause_reference = draft.cause.reference;
  if (draft.reverses) {
    journal.reverses_journal_id = draft.reverses->value();
  }
  journal.memo = draft.memo;
  if (draft.request_id) {
    journal.request_id = draft.request_id->value();
  }
  int line = 0;
  for (const PostingLine& posting : draft.postings) {
    journal.postings.push_back(
        {++line, posting.account.value(), std::string(posting.amount.currency.code()), posting.amount.amount_minor});
  }
  return journal;
}

std::string link_encoding(int chain_id, std::int64_t link_sequence, const Sha256Digest& previous,
                          const std::vector<LinkJournal>& journals_in_id_order) {
  std::string out = "cch-link-v1;";
  out.reserve(96 + journals_in_id_order.size() * 120);
  field(out, chain_id);
  field(out, link_sequence);
  field(out, to_hex(previous));
  field(out, static_cast<std::int64_t>(journals_in_id_order.size()));
  for (const LinkJournal& journal : journals_in_id_order) {
    field(out, journal.journal_id);
    field(out, journal.created_at_unix_microseconds);
    field(out, journal.request_id.value_or(std::string()));
    field(out, to_hex(journal.content_sha256));
  }
  return out;
}

Sha256Digest link_hash(int chain_id, std::int64_t link_sequence, const Sha256Digest& previous,
                       const std::vector<LinkJournal>& journals_in_id_order) {
  return sha256(link_encoding(chain_id, link_sequence, previous, journals_in_id_order));
}

Sha256Digest genesis_hash(int chain_id) { return sha256("cch ledger chain " + std::to_string(chain_id)); }

}  // namespace cch::ledger
