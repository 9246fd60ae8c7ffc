// NullStore: accepts and discards (OpenSMTPD's "null" store), so protocol benchmarks and tests do
// not depend on the disk.
#include "mailslot/delivery/maildir_store.hpp"

namespace mailslot::delivery {

namespace {

class NullWriter final : public MessageWriter {
 public:
  explicit NullWriter(std::size_t recipients) : recipients_(recipients) {}

  std::optional<Outcome> append(std::string_view data) override {
    size_ += data.size();
    return std::nullopt;
  }
  std::vector<Outcome> commit() override { return std::vector<Outcome>(recipients_, Outcome::ok("")); }
  void discard() override {}
  std::uint64_t content_size() const override { return size_; }

 private:
  std::size_t recipients_;
  std::uint64_t size_ = 0;
};

}  // namespace

std::unique_ptr<MessageWriter> NullStore::begin(const Envelope& envelope, Outcome& /*failure*/) {
  return std::make_unique<NullWriter>(envelope.recipients.size());
}

}  // namespace mailslot::delivery
