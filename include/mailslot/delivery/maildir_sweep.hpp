// The tmp/ sweep of the Maildir rule (cr.yp.to/proto/maildir.html: "When you look through tmp,
// delete files not accessed in 36 hours"). A crash between creating a spool in tmp/ and unlinking
// it leaves a stray file there; nothing ever links it into new/, so it is only wasted space, but
// it must go eventually. mailslot sweeps a Maildir's tmp/ when the process first touches that
// Maildir (DurableMaildirs, maildir_dirs.hpp), not by scanning the whole mail root at start-up:
// a large mail root costs nothing until its mailboxes receive mail. Internal to delivery.
#pragma once

#include <chrono>
#include <cstddef>

#include "mailslot/delivery/fs.hpp"

namespace mailslot::delivery {

// The Maildir rule's age, and how many entries one sweep looks at (the rest wait for the next
// first touch: a tmp/ holding a million strays must not hold one delivery for minutes).
inline constexpr std::chrono::hours kTmpMaxAge{36};
inline constexpr std::size_t kSweepMaxEntries = 10000;

struct SweepResult {
  std::size_t examined = 0;  // entries looked at
  std::size_t removed = 0;   // stray files unlinked
  int error = 0;             // errno of the first failure (the sweep goes on past it), 0 if none
};

// Removes from the open directory `tmp` every regular file whose access and modification times
// are both more than kTmpMaxAge before `now`. A file still being written has a fresh mtime; one
// just created a fresh atime too. Symlinks, directories and anything else are left alone.
// Failures never fail a delivery: they are reported and the sweep moves on.
SweepResult sweep_tmp(fs::FileSystem& files, int tmp, std::chrono::system_clock::time_point now,
                      std::size_t max_entries = kSweepMaxEntries);

}  // namespace mailslot::delivery
