// Logging set-up: spdlog on stderr, text or JSON lines.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <syslog.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "app.hpp"
#include "mailslot/server/log_format.hpp"

namespace mailslot::app {

void set_up_logging(const config::Config& c, LogSink sink) {
  auto logger = spdlog::get("mailslotd");
  if (!logger && sink == LogSink::syslog) logger = spdlog::syslog_logger_mt("mailslotd", "mailslotd", LOG_PID, LOG_MAIL, true);
  if (!logger) logger = spdlog::stderr_logger_mt("mailslotd");
  // Under systemd the journal stamps every line itself; so does syslog.
  const bool journal = std::getenv("JOURNAL_STREAM") != nullptr || sink == LogSink::syslog;
  if (c.log.format == "json") {
    server::set_json_logs(true);
    logger->set_formatter(server::make_json_formatter(!journal));
  } else if (journal) {
    logger->set_pattern("[%l] %v");
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
  }
  logger->set_level(spdlog::level::from_str(c.log_level));
  logger->flush_on(spdlog::level::trace);  // one line per event, visible at once (tests read it)
  spdlog::set_default_logger(logger);
}

}  // namespace mailslot::app
