#pragma once
// The canonical encodings that the hash chain covers (format version 1). Both the poster and
// the verifier use these functions; docs/ledger.md specifies the bytes so that an auditor can
// re-implement the verifier independently.
//
// Each field is written as <decimal byte length>:<bytes>; so no value can run into the next.
//
// content: "cch-journal-v1;" then idempotency_key, business_date (YYYY-MM-DD), kind, cause kind,
//   cause reference, reverses (decimal journal id or empty), memo, the number of postings, and
//   for each posting in line order: line number, account id, currency code, amount in minor
//   units (decimal). The content excludes journal id, time and request id, so that posting the
//   same draft again yields the same content hash (idempotency compares content hashes).
//
// link: "cch-link-v1;" then chain id, link sequence, previous link hash (64 hex digits), the
//   number of journals, and for each journal in journal id order: journal id, created_at in
//   microseconds since the Unix epoch, request id (or empty), content hash (64 hex digits).
//
// Thread safety: pure functions.

#include "cch/core/sha256.hpp"
#include "cch/ledger/journal.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cch::ledger {

// A journal as stored, with everything the hashes cover.
struct StoredPosting {
  int line_number = 0;
  std::int64_t account_id = 0;
  std::string currency;
  std::int64_t amount_minor = 0;
};

struct StoredJournal {
  std::int64_t journal_id = 0;
  std::string idempotency_key;
  std::string business_date;  // YYYY-MM-DD
  std::string kind;
  std::string cause_kind;
  std::string cause_reference;
  std::optional<std::int64_t> reverses_journal_id;
  std::string memo;
  std::optional<std::string> request_id;
  std::int64_t created_at_unix_microseconds = 0;
  std::vector<StoredPosting> postings;  // in line order
};

std::string content_encoding(const StoredJournal& journal);
Sha256Digest content_hash(const StoredJournal& journal);

// The draft as it will be stored (line numbers from 1), without id and time.
StoredJournal to_stored(const JournalDraft& draft);

struct LinkJournal {
  std::int64_t journal_id = 0;
  std::int64_t created_at_unix_microseconds = 0;
  std::optional<std::string> request_id;
  Sha256Digest content_sha256{};
};

std::string link_encoding(int chain_id, std::int64_t link_sequence, const Sha256Digest& previous,
                          const std::vector<LinkJournal>& journals_in_id_order);
Sha256Digest link_hash(int chain_id, std::int64_t link_sequence, const Sha256Digest& previous,
                       const std::vector<LinkJournal>& journals_in_id_order);

// The hash every chain starts from: SHA-256 of "cch ledger chain <chain id>".
Sha256Digest genesis_hash(int chain_id);

}  // namespace cch::ledger
