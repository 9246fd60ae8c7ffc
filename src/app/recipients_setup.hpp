// Building the daemon's Recipients from the configuration (start-up: throws on unusable files).
#pragma once

#include <memory>

#include "mailslot/config/config.hpp"
#include "mailslot/delivery/recipients.hpp"

namespace mailslot::app {

std::shared_ptr<const delivery::Recipients> build_recipients(const config::Config& c);

}  // namespace mailslot::app
