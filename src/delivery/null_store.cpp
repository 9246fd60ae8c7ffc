// NullStore: accepts and discards (OpenSMTPD's "null" store), so protocol benchmarks and tests do
// not depend on the disk.
#include "mailslot/delivery/maildir_store.hpp"

namespace mailslot::delivery {

namespace {

class NullWriter final : public MessageWriter {
 public:
  explicit NullWriter(std::size_t recipients) : recipients_(recipients) {}

  std::optional<Outcome> append(std::string_view /*data*/) override { return std::nullopt; }
  using MessageWriter::commit;
  std::vector<Outcome> commit(CommitClaim& claim) override {
    if (!claim.finish()) return std::vector<Outcome>(recipients_, Outcome::timed_out());
    return std::vector<Outcome>(recipients_, Outcome::ok(""));
  }
  void discard() override {}

 private:
  std::size_t recipients_;
};

}  // namespace

std::unique_ptr<MessageWriter> NullStore::begin(const Envelope& envelope, Outcome& /*failure*/) {
  return std::make_unique<NullWriter>(envelope.recipients.size());
}

}  // namespace mailslot::delivery
