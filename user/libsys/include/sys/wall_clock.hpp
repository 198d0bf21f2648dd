// The wall clock: the CMOS real-time clock (an MC146818 at I/O ports 0x70/0x71, which QEMU keeps in
// UTC) read once, as seconds since 1970-01-01 UTC. Header-only (the manager reads it at start).
// Invariant: a read is accepted only when two consecutive reads, each outside an update cycle,
// agree field by field and every field is in range; otherwise the answer is 0 (no wall clock).
#pragma once

#include "sys/device.hpp"
#include "sys/types.hpp"

namespace sys {

// Days from 1970-01-01 to year-month-day (proleptic Gregorian; year >= 1970, month 1-12).
constexpr u64 days_since_epoch(u64 year, u64 month, u64 day) {
  // Counted from March, so the leap day is the last day of the shifted year.
  u64 shifted = month <= 2 ? year - 1 : year;
  u64 era = shifted / 400;
  u64 year_of_era = shifted - era * 400;
  u64 day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  u64 day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}
static_assert(days_since_epoch(1970, 1, 1) == 0);
static_assert(days_since_epoch(2000, 3, 1) == 11017);
static_assert(days_since_epoch(2025, 1, 1) == 20089);

namespace rtc_detail {

struct Fields {
  u64 second, minute, hour, day, month, year, century, status_b;
  bool operator==(const Fields&) const = default;
};

inline bool read_register(const IoPorts& ports, u64 index, u64& value) {
  // Bit 7 of the index port masks NMIs: left clear.
  if (!ports.write(0x70, 1, index & 0x7f).ok()) return false;
  auto read = ports.read(0x71, 1);
  if (!read.ok()) return false;
  value = read.value() & 0xff;
  return true;
}

// Waits (bounded) until no update is in progress (status A bit 7), then reads every field.
inline bool read_fields(const IoPorts& ports, Fields& fields) {
  for (u64 tries = 0;; ++tries) {
    u64 status_a = 0;
    if (!read_register(ports, 0x0a, status_a)) return false;
    if ((status_a & 0x80) == 0) break;
    if (tries == 100000) return false;
  }
  return read_register(ports, 0x00, fields.second) && read_register(ports, 0x02, fields.minute) &&
         read_register(ports, 0x04, fields.hour) && read_register(ports, 0x07, fields.day) &&
         read_register(ports, 0x08, fields.month) && read_register(ports, 0x09, fields.year) &&
         read_register(ports, 0x32, fields.century) && read_register(ports, 0x0b, fields.status_b);
}

constexpr u64 from_bcd(u64 value) { return (value >> 4) * 10 + (value & 0x0f); }

}  // namespace rtc_detail

// Seconds since 1970-01-01 UTC per the RTC behind `ports`, or 0 when it cannot be read or reads
// out of range (no clock, a broken one, a date before 2000 or after 2199).
inline u64 read_rtc_epoch_seconds(const IoPorts& ports) {
  using rtc_detail::Fields;
  Fields first{}, second{};
  bool agreed = false;
  for (int attempt = 0; attempt < 5 && !agreed; ++attempt) {
    if (!rtc_detail::read_fields(ports, first) || !rtc_detail::read_fields(ports, second)) return 0;
    agreed = first == second;
  }
  if (!agreed) return 0;
  Fields f = first;
  bool binary = (f.status_b & 0x04) != 0, twenty_four_hours = (f.status_b & 0x02) != 0;
  bool afternoon = (f.hour & 0x80) != 0;
  f.hour &= 0x7f;
  if (!binary) {
    f.second = rtc_detail::from_bcd(f.second);
    f.minute = rtc_detail::from_bcd(f.minute);
    f.hour = rtc_detail::from_bcd(f.hour);
    f.day = rtc_detail::from_bcd(f.day);
    f.month = rtc_detail::from_bcd(f.month);
    f.year = rtc_detail::from_bcd(f.year);
    f.century = rtc_detail::from_bcd(f.century);
  }
  if (!twenty_four_hours) f.hour = f.hour % 12 + (afternoon ? 12 : 0);
  // The century register (0x32, ACPI's default) may be absent: then the 2000s.
  u64 century = f.century >= 20 && f.century <= 21 ? f.century : 20;
  u64 year = century * 100 + f.year;
  if (f.second > 59 || f.minute > 59 || f.hour > 23 || f.day < 1 || f.day > 31 || f.month < 1 || f.month > 12 ||
      f.year > 99)
    return 0;
  return days_since_epoch(year, f.month, f.day) * 86400 + f.hour * 3600 + f.minute * 60 + f.second;
}

}  // namespace sys
