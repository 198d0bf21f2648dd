// FileDisk: a store::BlockDevice over a temporary file, for host tests of the on-disk layout, with
// the failures a real disk has: an unclean stop after a given number of writes (later writes and
// flushes are lost), a torn write (only its first bytes reach the file) and I/O errors.
// Invariant: the file is the disk's durable content; what a "crash" drops never reaches it.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "block_device.hpp"

class FileDisk final : public store::BlockDevice {
 public:
  explicit FileDisk(store::u64 bytes) {
    char path[] = "/tmp/store-disk-XXXXXX";
    descriptor_ = mkstemp(path);
    path_ = path;
    if (ftruncate(descriptor_, static_cast<off_t>(bytes)) != 0) abort();
    size_ = bytes;
  }
  ~FileDisk() {
    close(descriptor_);
    unlink(path_.c_str());
  }

  store::u64 size() const override { return size_; }
  store::Status read(store::u64 offset, void* target, store::u64 length) override {
    check(offset, length);
    ++reads;
    if (fail_reads) return store::STATUS_IO_ERROR;
    if (pread(descriptor_, target, length, static_cast<off_t>(offset)) != static_cast<ssize_t>(length)) abort();
    return store::STATUS_OK;
  }
  store::Status write(store::u64 offset, const void* source, store::u64 length) override {
    check(offset, length);
    ++writes;
    if (fail_writes) return store::STATUS_IO_ERROR;
    if (writes_until_error_ > 0 && --writes_until_error_ == 0) return store::STATUS_IO_ERROR;
    if (stopped_) return store::STATUS_OK;  // The machine is "off": nothing reaches the disk.
    store::u64 written = length;
    if (writes_until_stop_ > 0 && --writes_until_stop_ == 0) {
      stopped_ = true;
      written = torn_bytes_ < length ? torn_bytes_ : length;
    }
    if (written > 0 && pwrite(descriptor_, source, written, static_cast<off_t>(offset)) != static_cast<ssize_t>(written))
      abort();
    return store::STATUS_OK;
  }
  store::Status flush() override {
    ++flushes;
    return fail_writes ? store::STATUS_IO_ERROR : store::STATUS_OK;
  }

  // The `count`-th write from now keeps only its first `torn_bytes` bytes, and every later write
  // is lost: an unclean stop in the middle of that write.
  void stop_after_writes(store::u64 count, store::u64 torn_bytes) {
    writes_until_stop_ = count;
    torn_bytes_ = torn_bytes;
  }
  // The `count`-th write from now fails with an I/O error (and only that one).
  void fail_write_after(store::u64 count) { writes_until_error_ = count; }
  // Power back on: writes reach the file again (the caller mounts a fresh Volume).
  void restart() {
    stopped_ = false;
    writes_until_stop_ = 0;
  }
  bool stopped() const { return stopped_; }
  void poke(store::u64 offset, store::u8 value) {
    if (pwrite(descriptor_, &value, 1, static_cast<off_t>(offset)) != 1) abort();
  }
  store::u8 peek(store::u64 offset) const {
    store::u8 value = 0;
    if (pread(descriptor_, &value, 1, static_cast<off_t>(offset)) != 1) abort();
    return value;
  }

  store::u64 reads = 0;
  store::u64 writes = 0;
  store::u64 flushes = 0;
  bool fail_reads = false;
  bool fail_writes = false;

 private:
  void check(store::u64 offset, store::u64 length) const {
    // The layout must keep BlockDevice's contract; a violation is a bug in it, not a disk error.
    if (offset % store::SECTOR_BYTES != 0 || length % store::SECTOR_BYTES != 0 || offset + length > size_) abort();
  }

  int descriptor_ = -1;
  std::string path_;
  store::u64 size_ = 0;
  store::u64 writes_until_stop_ = 0;
  store::u64 torn_bytes_ = 0;
  store::u64 writes_until_error_ = 0;
  bool stopped_ = false;
};
